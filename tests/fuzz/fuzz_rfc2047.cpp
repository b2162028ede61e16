// libFuzzer target: RFC 2047 decoding (and the charset conversions under it)
// never crashes and always yields valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mail/charset.hpp"
#include "mail/rfc2047.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (!tegami::mail::is_valid_utf8(tegami::mail::decode_rfc2047(in))) __builtin_trap();
  if (size > 0) {
    // First byte picks a charset; the rest is converted raw.
    static constexpr const char* kCharsets[] = {"ISO-2022-JP", "Shift_JIS",  "EUC-JP", "GB2312",
                                                "Big5",        "ISO-8859-1", "UTF-8",  "KOI8-R"};
    auto cs = kCharsets[data[0] % 8];
    auto out = tegami::mail::to_utf8(in.substr(1), cs);
    if (out && !tegami::mail::is_valid_utf8(*out)) __builtin_trap();
  }
  return 0;
}
