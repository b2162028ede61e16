#include "auth/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>
#include <vector>

#include "core/base64.hpp"

namespace tegami::scram {

namespace {

Digest hmac(const std::uint8_t* key, std::size_t key_len, std::string_view data) {
  Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key, static_cast<int>(key_len),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

Digest sha256(const std::uint8_t* data, std::size_t len) {
  Digest out{};
  SHA256(data, len, out.data());
  return out;
}

std::string_view as_view(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// Splits "k=v,k=v,..." into attributes. Empty vector on an empty element.
std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = s.find(',', start);
    parts.push_back(s.substr(start, comma == std::string_view::npos ? s.npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return parts;
}

// "x=value" with a letter attribute name.
bool is_attr(std::string_view part, char name) {
  return part.size() >= 2 && part[0] == name && part[1] == '=';
}

bool is_extension(std::string_view part) {
  return part.size() >= 2 &&
         ((part[0] >= 'a' && part[0] <= 'z') || (part[0] >= 'A' && part[0] <= 'Z')) &&
         part[1] == '=';
}

// RFC 5802 §7 printable: %x21-2B / %x2D-7E (no ',').
bool printable_nonce(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(Failure f) {
  switch (f) {
    case Failure::kMalformed:
      return "malformed message";
    case Failure::kChannelBinding:
      return "channel binding not supported";
    case Failure::kAuthzid:
      return "authorization identity not allowed";
    case Failure::kExtension:
      return "unsupported mandatory extension";
    case Failure::kNonce:
      return "nonce mismatch";
    case Failure::kProof:
      return "invalid proof";
  }
  return "?";
}

std::optional<std::string> decode_saslname(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\0' || c == ',') return std::nullopt;
    if (c != '=') {
      out += c;
      continue;
    }
    std::string_view esc = s.substr(i + 1, 2);
    if (esc == "2C") {
      out += ',';
    } else if (esc == "3D") {
      out += '=';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

std::string encode_saslname(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

tl::expected<ClientFirst, Failure> parse_client_first(std::string_view message) {
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  ClientFirst r;
  if (message.empty()) return tl::unexpected(Failure::kMalformed);
  std::size_t c1 = message.find(',');
  if (c1 == std::string_view::npos) return tl::unexpected(Failure::kMalformed);
  std::string_view flag = message.substr(0, c1);
  if (flag.starts_with("p=")) return tl::unexpected(Failure::kChannelBinding);
  if (flag != "n" && flag != "y") return tl::unexpected(Failure::kMalformed);
  std::size_t c2 = message.find(',', c1 + 1);
  if (c2 == std::string_view::npos) return tl::unexpected(Failure::kMalformed);
  std::string_view authzid = message.substr(c1 + 1, c2 - c1 - 1);
  if (!authzid.empty()) {
    if (!is_attr(authzid, 'a')) return tl::unexpected(Failure::kMalformed);
    auto decoded = decode_saslname(authzid.substr(2));
    if (!decoded || decoded->size() > kMaxName) return tl::unexpected(Failure::kMalformed);
    r.authzid = std::move(*decoded);
  }
  r.gs2_header = std::string(message.substr(0, c2 + 1));
  std::string_view bare = message.substr(c2 + 1);
  r.bare = std::string(bare);
  // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  auto parts = split(bare);
  std::size_t i = 0;
  if (i < parts.size() && is_attr(parts[i], 'm')) return tl::unexpected(Failure::kExtension);
  if (i >= parts.size() || !is_attr(parts[i], 'n')) return tl::unexpected(Failure::kMalformed);
  auto user = decode_saslname(parts[i].substr(2));
  if (!user || user->size() > kMaxName) return tl::unexpected(Failure::kMalformed);
  r.username = std::move(*user);
  ++i;
  if (i >= parts.size() || !is_attr(parts[i], 'r')) return tl::unexpected(Failure::kMalformed);
  std::string_view nonce = parts[i].substr(2);
  if (!printable_nonce(nonce) || nonce.size() > kMaxNonce)
    return tl::unexpected(Failure::kMalformed);
  r.nonce = std::string(nonce);
  for (++i; i < parts.size(); ++i) {
    if (!is_extension(parts[i])) return tl::unexpected(Failure::kMalformed);
  }
  // Only one's own identity (no proxy authorization).
  if (!r.authzid.empty() && r.authzid != r.username) return tl::unexpected(Failure::kAuthzid);
  return r;
}

tl::expected<ClientFinal, Failure> parse_client_final(std::string_view message) {
  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  ClientFinal r;
  std::size_t last = message.rfind(',');
  if (last == std::string_view::npos) return tl::unexpected(Failure::kMalformed);
  std::string_view proof = message.substr(last + 1);
  if (!is_attr(proof, 'p')) return tl::unexpected(Failure::kMalformed);
  r.without_proof = std::string(message.substr(0, last));
  r.proof_b64 = std::string(proof.substr(2));
  auto decoded = base64_decode(r.proof_b64);
  if (!decoded || decoded->size() != kHashSize) return tl::unexpected(Failure::kMalformed);
  r.proof = std::move(*decoded);
  auto parts = split(r.without_proof);
  if (parts.size() < 2 || !is_attr(parts[0], 'c') || !is_attr(parts[1], 'r'))
    return tl::unexpected(Failure::kMalformed);
  r.channel_binding = std::string(parts[0].substr(2));
  r.nonce = std::string(parts[1].substr(2));
  for (std::size_t i = 2; i < parts.size(); ++i) {
    if (!is_extension(parts[i])) return tl::unexpected(Failure::kMalformed);
  }
  return r;
}

Keys derive_keys(std::string_view password, std::string_view salt, unsigned iterations) {
  Digest salted{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1) {
    throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
  }
  Keys k;
  Digest client_key = hmac(salted.data(), salted.size(), "Client Key");
  k.stored_key = sha256(client_key.data(), client_key.size());
  k.server_key = hmac(salted.data(), salted.size(), "Server Key");
  OPENSSL_cleanse(salted.data(), salted.size());
  OPENSSL_cleanse(client_key.data(), client_key.size());
  return k;
}

std::string derive_salt(std::string_view key, std::string_view name) {
  std::string data = "tegami-scram-salt";
  data += '\0';
  data += name;
  Digest d = hmac(reinterpret_cast<const std::uint8_t*>(key.data()), key.size(), data);
  return std::string(reinterpret_cast<const char*>(d.data()), kSaltSize);
}

std::string make_server_nonce() {
  std::array<unsigned char, kNonceBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

ServerExchange::ServerExchange(ClientFirst first, std::string salt, unsigned iterations,
                               std::optional<Keys> keys, std::string_view server_nonce)
    : first_(std::move(first)), keys_(keys) {
  nonce_ = first_.nonce + std::string(server_nonce);
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(salt) + ",i=" + std::to_string(iterations);
}

tl::expected<std::string, Failure> ServerExchange::finish(std::string_view client_final) const {
  auto final_msg = parse_client_final(client_final);
  if (!final_msg) return tl::unexpected(final_msg.error());
  if (final_msg->channel_binding != base64_encode(first_.gs2_header))
    return tl::unexpected(Failure::kChannelBinding);
  if (final_msg->nonce != nonce_) return tl::unexpected(Failure::kNonce);
  // AuthMessage = client-first-message-bare "," server-first-message ","
  //               client-final-message-without-proof          (RFC 5802 §3)
  const std::string auth_message =
      first_.bare + "," + server_first_ + "," + final_msg->without_proof;
  // Without keys, the same work against zero keys; the result is thrown away.
  const Keys keys = keys_.value_or(Keys{});
  Digest client_signature = hmac(keys.stored_key.data(), keys.stored_key.size(), auth_message);
  Digest client_key{};
  for (std::size_t i = 0; i < kHashSize; ++i) {
    client_key[i] = static_cast<std::uint8_t>(static_cast<unsigned char>(final_msg->proof[i]) ^
                                              client_signature[i]);
  }
  Digest stored = sha256(client_key.data(), client_key.size());
  const bool match = CRYPTO_memcmp(stored.data(), keys.stored_key.data(), kHashSize) == 0;
  OPENSSL_cleanse(client_key.data(), client_key.size());
  if (!match || !keys_) return tl::unexpected(Failure::kProof);
  Digest server_signature = hmac(keys.server_key.data(), keys.server_key.size(), auth_message);
  return "v=" + base64_encode(as_view(server_signature));
}

}  // namespace tegami::scram
