// Sealed secrets: AES-256-GCM under a 32-byte key file, for secrets the
// server must be able to read back (the APOP shared secret, RFC 1939 §7,
// cannot be stored as a one-way hash because the server recomputes
// MD5(timestamp + secret) for each login).
//
// Key file: exactly 32 random bytes, mode 0600, owned by the server user.
// load_key_file() refuses a file of any other size or one that the group or
// others may read or write, so a leaked or tampered key is noticed early.
//
// Sealed format (base64, RFC 4648 §4, padded; core/base64.hpp):
//   version (1 byte, 0x01) | nonce (12 bytes, random) | ciphertext | tag (16 bytes)
// The version byte and the nonce are authenticated too (they are part of the
// AAD), and the caller's context (the account address) is bound as AAD, so a
// sealed secret copied to another account does not open.
//
// Invariants: key material is wiped (OPENSSL_cleanse) when a SecretKey dies;
// a random 96-bit nonce per seal (NIST SP 800-38D §8.2.2) is safe for far
// more seals than an account database will ever see.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tegami {

inline constexpr std::size_t kSecretKeySize = 32;

class SecretKey {
 public:
  SecretKey() = default;
  explicit SecretKey(const std::array<std::uint8_t, kSecretKeySize>& bytes) : bytes_(bytes) {}
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  ~SecretKey();

  const std::uint8_t* data() const { return bytes_.data(); }
  static constexpr std::size_t size() { return kSecretKeySize; }

 private:
  std::array<std::uint8_t, kSecretKeySize> bytes_{};
};

// Writes 32 fresh random bytes to `path` (which must not exist: O_EXCL),
// mode 0600, fsynced, and fsyncs the directory. Permanent error if the file exists.
Result<void> create_key_file(const std::string& path);

// Reads a key file. Permanent error for a missing file, a size other than 32
// bytes, a file that is not regular, or one with any group/other permission bit.
Result<SecretKey> load_key_file(const std::string& path);

namespace sealed {

inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kNonceSize = 12;
inline constexpr std::size_t kTagSize = 16;

// Encrypts `plaintext` bound to `aad` (the account address). Returns base64.
Result<std::string> seal(const SecretKey& key, std::string_view plaintext, std::string_view aad);

// Decrypts and authenticates. Permanent error for bad base64, an unknown
// version, a truncated blob, or a failed tag check (wrong key, wrong aad,
// tampered data) — deliberately indistinguishable from each other.
Result<std::string> open(const SecretKey& key, std::string_view sealed_b64, std::string_view aad);

}  // namespace sealed

}  // namespace tegami
