// SCRAM-SHA-256 (RFC 7677, RFC 5802), the server side, pure (no I/O; OpenSSL
// for the hashes and the random nonce).
//
// A protocol driver runs one ServerExchange per authentication:
//
//   auto first = scram::parse_client_first(client_first);   // or a Failure
//   scram::ServerExchange x(*first, salt, kIterations, keys, make_server_nonce());
//   send x.server_first()
//   auto final = x.finish(client_final);                     // server-final or a Failure
//
// What this implementation accepts (RFC 5802 §7 grammar):
//  - gs2 header "n,," or "y,," (the client supports channel binding and thinks
//    we do not: right, we advertise no -PLUS variant, RFC 5802 §6); "p=..."
//    (channel binding requested) is Failure::kChannelBinding;
//  - an authzid "a=" must name the user itself (no proxy authorization);
//  - "m=" (a mandatory extension) is Failure::kExtension (§5.1: the server
//    MUST fail when it does not understand it); other extensions are ignored;
//  - saslnames with "=2C" and "=3D" escapes; any other "=" is malformed;
//  - c= must be the base64 of the gs2 header, r= must be exactly the nonce of
//    server-first, p= must be base64 of 32 bytes.
// The password is used as given (UTF-8); SASLprep (RFC 4013) is not applied,
// which is the same for printable ASCII passwords.
//
// Invariants: the proof is checked in constant time (CRYPTO_memcmp); an
// exchange built without keys (unknown user, no recoverable secret) runs the
// same computation and fails with kProof, so the two cannot be told apart by
// the answers; server-final is produced only after a valid proof.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace tegami::scram {

inline constexpr std::string_view kMechanism = "SCRAM-SHA-256";
inline constexpr unsigned kIterations = 4096;   // RFC 7677 §4: at least 4096
inline constexpr std::size_t kSaltSize = 16;    // octets
inline constexpr std::size_t kNonceBytes = 18;  // random octets in the server nonce
inline constexpr std::size_t kMaxName = 256;    // username / authzid, decoded
inline constexpr std::size_t kMaxNonce = 128;   // client nonce, characters
inline constexpr std::size_t kHashSize = 32;    // SHA-256

enum class Failure {
  kMalformed,       // not a SCRAM message of the expected kind
  kChannelBinding,  // channel binding asked for ("p=") or c= not our gs2 header
  kAuthzid,         // a= names another identity
  kExtension,       // m= (a mandatory extension we do not know)
  kNonce,           // client-final r= is not the combined nonce
  kProof,           // the proof does not verify (or no such user)
};
std::string_view to_string(Failure f);

using Digest = std::array<std::uint8_t, kHashSize>;

struct ClientFirst {
  std::string gs2_header;  // verbatim, e.g. "n,," or "n,a=user,"
  std::string authzid;     // decoded; "" when none
  std::string username;    // decoded (=2C -> ',', =3D -> '=')
  std::string nonce;       // c-nonce
  std::string bare;        // client-first-message-bare, verbatim
};

struct ClientFinal {
  std::string channel_binding;  // c= as sent (base64)
  std::string nonce;            // r=
  std::string proof_b64;        // p= as sent
  std::string proof;            // p= decoded (kHashSize octets)
  std::string without_proof;    // client-final-message-without-proof, verbatim
};

tl::expected<ClientFirst, Failure> parse_client_first(std::string_view message);
tl::expected<ClientFinal, Failure> parse_client_final(std::string_view message);

// saslname decoding (RFC 5802 §5.1): "=2C" is ',' and "=3D" is '='; any
// other '=' or a ',' or NUL is malformed.
std::optional<std::string> decode_saslname(std::string_view s);
std::string encode_saslname(std::string_view s);

// The stored form of a password (RFC 5802 §3).
struct Keys {
  Digest stored_key{};  // H(HMAC(SaltedPassword, "Client Key"))
  Digest server_key{};  // HMAC(SaltedPassword, "Server Key")
};
Keys derive_keys(std::string_view password, std::string_view salt, unsigned iterations);

// A deterministic salt for `name` under `key` (the first kSaltSize octets of
// HMAC-SHA-256(key, "tegami-scram-salt" NUL name)): the same account sees
// the same salt at each login, unknown names get one of the same shape.
std::string derive_salt(std::string_view key, std::string_view name);

// base64 of kNonceBytes random octets (printable, no ',').
std::string make_server_nonce();

class ServerExchange {
 public:
  // `keys`: nullopt when the user is unknown or has no usable secret; the
  // exchange then looks the same but finish() fails with kProof.
  ServerExchange(ClientFirst first, std::string salt, unsigned iterations, std::optional<Keys> keys,
                 std::string_view server_nonce);

  const ClientFirst& client_first() const { return first_; }
  // "r=<c-nonce><s-nonce>,s=<base64 salt>,i=<iterations>"
  const std::string& server_first() const { return server_first_; }
  // Verifies client-final; on success returns server-final ("v=<base64>").
  tl::expected<std::string, Failure> finish(std::string_view client_final) const;

 private:
  ClientFirst first_;
  std::string nonce_;  // c-nonce + s-nonce
  std::string server_first_;
  std::optional<Keys> keys_;
};

}  // namespace tegami::scram
