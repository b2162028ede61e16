#include "store/maildir/maildir_names.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

namespace tegami::maildir {

std::string crlf_to_lf(std::string_view wire) {
  std::string out;
  out.reserve(wire.size());
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\r' && i + 1 < wire.size() && wire[i + 1] == '\n') continue;
    out += wire[i];
  }
  return out;
}

std::uint64_t lone_lf_count(std::string_view chunk, char prev) {
  std::uint64_t n = 0;
  for (char c : chunk) {
    if (c == '\n' && prev != '\r') ++n;
    prev = c;
  }
  return n;
}

std::uint64_t crlf_size(std::string_view disk) {
  return disk.size() + lone_lf_count(disk, '\0') + line_completion(disk).size();
}

std::string_view line_completion(std::string_view disk) {
  if (disk.empty() || disk.back() == '\n') return {};
  return disk.back() == '\r' ? std::string_view("\n") : std::string_view("\r\n");
}

std::string lf_to_crlf(std::string_view disk) {
  std::string out;
  out.reserve(crlf_size(disk));
  char prev = '\0';
  for (char c : disk) {
    if (c == '\n' && prev != '\r') out += '\r';
    out += c;
    prev = c;
  }
  out += line_completion(disk);
  return out;
}

std::string sanitize_host(std::string_view host, std::size_t max) {
  std::string out;
  for (unsigned char c : host) {
    std::string piece;
    if (c < 0x21 || c > 0x7e || c == '/' || c == ':' || c == ',' || c == '\\') {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      piece = buf;
    } else {
      piece = static_cast<char>(c);
    }
    if (out.size() + piece.size() > max) break;
    out += piece;
  }
  return out;
}

std::string_view base_name(std::string_view file_name) {
  return file_name.substr(0, std::min(file_name.find(','), file_name.find(':')));
}

std::string hashed_uid(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;  // FNV-1a 64 prime
  }
  char buf[18];
  std::snprintf(buf, sizeof buf, "X%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string uid_for(std::string_view file_name) {
  auto base = base_name(file_name);
  bool ok = !base.empty() && base.size() <= kMaxUidLength &&
            std::all_of(base.begin(), base.end(), [](char ch) {
              auto c = static_cast<unsigned char>(ch);
              return c >= 0x21 && c <= 0x7e;
            });
  return ok ? std::string(base) : hashed_uid(base);
}

std::optional<std::uint64_t> size_field(std::string_view file_name, char key) {
  auto info = file_name.find(':');
  std::string_view head = file_name.substr(0, info);
  const char pattern[3] = {',', key, '='};
  for (std::size_t pos = head.find(std::string_view(pattern, 3)); pos != std::string_view::npos;
       pos = head.find(std::string_view(pattern, 3), pos + 1)) {
    std::size_t i = pos + 3;
    std::uint64_t v = 0;
    std::size_t digits = 0;
    for (; i < head.size() && head[i] >= '0' && head[i] <= '9'; ++i, ++digits) {
      if (v > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) return std::nullopt;
      v = v * 10 + static_cast<std::uint64_t>(head[i] - '0');
    }
    if (digits > 0 && (i == head.size() || head[i] == ',')) return v;
  }
  return std::nullopt;
}

std::string with_seen_flag(std::string_view file_name) {
  auto info = file_name.find(":2,");
  if (info == std::string_view::npos) return std::string(file_name) + ":2,S";
  std::string flags(file_name.substr(info + 3));
  if (flags.find('S') != std::string::npos) return std::string(file_name);
  flags += 'S';
  std::sort(flags.begin(), flags.end());
  return std::string(file_name.substr(0, info + 3)) + flags;
}

namespace {

std::optional<std::uint64_t> leading_number(std::string_view s) {
  std::uint64_t v = 0;
  std::size_t i = 0;
  for (; i < s.size() && i < 19 && s[i] >= '0' && s[i] <= '9'; ++i)
    v = v * 10 + static_cast<std::uint64_t>(s[i] - '0');
  if (i == 0) return std::nullopt;
  return v;
}

}  // namespace

bool older_first(std::string_view a, std::string_view b) {
  auto na = leading_number(a), nb = leading_number(b);
  if (na && nb && *na != *nb) return *na < *nb;
  if (na.has_value() != nb.has_value()) return na.has_value();
  return a < b;
}

}  // namespace tegami::maildir
