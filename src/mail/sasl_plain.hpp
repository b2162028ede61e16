// SASL PLAIN (RFC 4616) message decoding, pure.
//
// The client's response, after base64 decoding (RFC 5034 §4), is
//   message = [authzid] NUL authcid NUL passwd          (RFC 4616 §2)
// authcid and passwd must be non-empty; no field may contain NUL. Servers
// must accept fields of up to 255 octets (RFC 4616 §2); we accept exactly
// that (kMaxPlainField) so one field cannot be used to push kilobytes into
// the password hasher. UTF-8 validity and SASLprep are left to the verifier.
//
// Shared by POP3 AUTH (RFC 5034) and SMTP AUTH (RFC 4954).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tegami::mail {

// RFC 4616 §2: "up to 255 octets" for each of authzid, authcid and passwd.
inline constexpr std::size_t kMaxPlainField = 255;

struct PlainCredentials {
  std::string authzid;  // empty when the client did not ask to act as someone else
  std::string authcid;
  std::string password;
  bool operator==(const PlainCredentials&) const = default;
};

// Splits a decoded PLAIN message; std::nullopt when malformed.
std::optional<PlainCredentials> parse_sasl_plain(std::string_view message);

}  // namespace tegami::mail
