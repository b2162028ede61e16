#include "core/units.hpp"

#include <charconv>
#include <limits>

namespace tegami {

namespace {
std::optional<std::uint64_t> leading_number(std::string_view& s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(p - s.data()));
  return v;
}
}  // namespace

std::optional<std::chrono::seconds> parse_duration(std::string_view s) {
  auto n = leading_number(s);
  if (!n) return std::nullopt;
  std::uint64_t mul = 0;
  if (s.empty() || s == "s")
    mul = 1;
  else if (s == "m")
    mul = 60;
  else if (s == "h")
    mul = 3600;
  else if (s == "d")
    mul = 86400;
  else if (s == "w")
    mul = 7 * 86400;
  else
    return std::nullopt;
  if (*n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / mul)
    return std::nullopt;
  return std::chrono::seconds(static_cast<std::int64_t>(*n * mul));
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  auto n = leading_number(s);
  if (!n) return std::nullopt;
  std::uint64_t mul = 0;
  if (s.empty() || s == "B")
    mul = 1;
  else if (s == "KiB")
    mul = 1024ull;
  else if (s == "MiB")
    mul = 1024ull * 1024;
  else if (s == "GiB")
    mul = 1024ull * 1024 * 1024;
  else if (s == "KB" || s == "kB")
    mul = 1000ull;
  else if (s == "MB")
    mul = 1000ull * 1000;
  else if (s == "GB")
    mul = 1000ull * 1000 * 1000;
  else
    return std::nullopt;
  if (*n > std::numeric_limits<std::uint64_t>::max() / mul) return std::nullopt;
  return *n * mul;
}

}  // namespace tegami
