// APOP digests (RFC 1939 §7): MD5 over the server's greeting timestamp
// (angle brackets included) followed by the shared secret, written as 32
// lower-case hex digits.
//
// MD5 is what the RFC fixes; APOP only avoids sending the secret in the clear
// and is no substitute for TLS. Verification compares in constant time
// (CRYPTO_memcmp) and accepts the client's hex in either case (RFC 1939 shows
// lower case, some clients send upper case).
#pragma once

#include <string>
#include <string_view>

namespace tegami {

inline constexpr std::size_t kApopDigestLength = 32;  // 128-bit MD5 as hex

// Lower-case hex MD5(timestamp || secret). Empty string only if OpenSSL fails.
std::string apop_digest(std::string_view timestamp, std::string_view secret);

// True when `client_digest` (32 hex digits, any case) equals the digest.
// False for anything that is not exactly 32 hex digits.
bool apop_verify(std::string_view timestamp, std::string_view secret,
                 std::string_view client_digest);

}  // namespace tegami
