// libFuzzer target: parse_date on any bytes; a parsed date formats and
// parses back to the same instant.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mail/date.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto d = tegami::mail::parse_date(in);
  if (!d) return 0;
  auto again =
      tegami::mail::parse_date(tegami::mail::format_rfc5322_date(d->utc, d->offset_minutes));
  if (!again || again->utc != d->utc) __builtin_trap();
  (void)tegami::mail::format_rfc3339(*d);
  return 0;
}
