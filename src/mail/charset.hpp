// Charset conversion to UTF-8 (glibc iconv), as needed by RFC 2047 encoded
// words and by raw 8-bit header text.
//
// Decisions (see docs/trace.md): charset labels are mapped to the superset
// real mail means by them, as the WHATWG Encoding Standard and Japanese mail
// clients do: Shift_JIS -> CP932, EUC-JP -> EUC-JP-MS, GB2312/GBK -> GB18030,
// Big5 -> BIG5-HKSCS, ISO-8859-1/US-ASCII -> windows-1252, EUC-KR -> CP949.
// ISO-2022-JP (RFC 1468) is decoded by hand to CP932 first, so that
// `ESC ( J`, `ESC ( I`, SO/SI katakana and the NEC/IBM extension rows that
// Japanese mailers emit all survive (glibc's ISO-2022-JP rejects the latter).
//
// Invariant: the output is always valid UTF-8; bytes that cannot be decoded
// become U+FFFD, never an error and never a crash.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tegami::mail {

// Converts `bytes` in `charset` to UTF-8; nullopt when the charset is unknown.
std::optional<std::string> to_utf8(std::string_view bytes, std::string_view charset);

// Raw header text: valid UTF-8 stays, text with ISO-2022-JP escapes is decoded
// as such, and every other invalid byte becomes U+FFFD.
std::string raw_to_utf8(std::string_view bytes);

// True when `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates).
bool is_valid_utf8(std::string_view s);

// Replaces each ill-formed UTF-8 sequence by U+FFFD.
std::string sanitize_utf8(std::string_view s);

}  // namespace tegami::mail
