// RFC 2047 encoded-word decoding ("=?charset?B|Q?text?=") to UTF-8, for
// unstructured header fields (Subject) and the phrases of address fields.
//
// Follows RFC 2047 sections 4-6 with the leniency real mail needs:
// - whitespace between adjacent encoded words is dropped (section 6.2), and
//   their bytes are joined before conversion when the charset is the same, so
//   a multibyte character split across two words still decodes;
// - RFC 2231 language suffixes ("=?utf-8*ja?...") are ignored;
// - B text with missing padding or stray characters still decodes;
// - an encoded word in an unknown charset is left as written (section 6.2);
// - text outside encoded words goes through raw_to_utf8 (8-bit, ISO-2022-JP);
//   raw bytes that are not UTF-8 are decoded in `fallback_charset` when one
//   is given (the charset the message body declares, as mail readers do).
//
// Invariant: the result is valid UTF-8 for any input; no input throws.
#pragma once

#include <string>
#include <string_view>

namespace tegami::mail {

// Longest encoded word looked at; RFC 2047 section 2 caps one at 75 octets,
// the extra room tolerates broken encoders while bounding the scan.
constexpr std::size_t kMaxEncodedWord = 4096;

std::string decode_rfc2047(std::string_view value, std::string_view fallback_charset = {});

// The two transfer encodings of section 4, exposed for tests.
std::string decode_base64_lenient(std::string_view text);
std::string decode_q(std::string_view text);

}  // namespace tegami::mail
