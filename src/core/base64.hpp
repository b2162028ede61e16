// Base64 (RFC 4648 §4, the standard alphabet with '=' padding), pure.
//
// Used by SASL (RFC 4422) exchanges in POP3 AUTH (RFC 5034 §4) and SMTP AUTH
// (RFC 4954 §4), where the encoding is defined as RFC 4648 base64 without
// line breaks. Decoding is strict, because a lenient decoder would accept
// several spellings of one credential and hide broken or hostile clients:
//   - the length must be a multiple of 4 (padding is required, §3.2);
//   - only the 64 alphabet characters and trailing '=' are allowed: no
//     whitespace, no line breaks, no URL-safe alphabet (§3.3);
//   - the unused bits before the padding must be zero (canonical form, §3.5).
// The empty string decodes to the empty string.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tegami {

// Encodes `data` with padding and without line breaks.
std::string base64_encode(std::string_view data);

// Decodes strict RFC 4648 base64; std::nullopt for any deviation listed above.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace tegami
