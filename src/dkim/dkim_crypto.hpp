// The cryptography of DKIM on OpenSSL's libcrypto: body and header hashes
// (SHA-256, SHA-1 for reading rsa-sha1), public keys from key records
// (RFC 6376 §3.6.1 p=: RSA as DER SubjectPublicKeyInfo or PKCS#1
// RSAPublicKey; RFC 8463 §4: Ed25519 as the raw 32-octet key), signature
// checks and signing:
// - rsa-sha256 / rsa-sha1: RSASSA-PKCS1-v1_5 over the hash of the header
//   data (RFC 6376 §3.3.1);
// - ed25519-sha256: PureEdDSA (RFC 8032 §5.1) over the 32-octet SHA-256
//   digest of the header data (RFC 8463 §3), not over the data itself.
// Keys are generated here too (`dkim keygen`) and read and written as
// PKCS #8 PEM. Nothing here does I/O.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "mailauth/dkim_signature.hpp"

struct evp_pkey_st;
struct evp_md_ctx_st;

namespace tegami::dkim {

using mailauth::DkimAlgorithm;
using mailauth::DkimHash;
using mailauth::DkimKeyType;

// An incremental hash.
class Hasher {
 public:
  explicit Hasher(DkimHash h);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void update(std::string_view data);
  std::string final();  // the raw digest; the hasher is then spent

 private:
  evp_md_ctx_st* ctx_ = nullptr;
};

std::string digest(DkimHash h, std::string_view data);

using PkeyPtr = std::shared_ptr<evp_pkey_st>;

struct PublicKey {
  PkeyPtr pkey;
  DkimKeyType type = DkimKeyType::kRsa;
  int bits = 0;  // RSA modulus bits; 256 for Ed25519

  // The decoded p= of a key record of type `type`; an error (permanent) if
  // it is not a key of that type.
  static Result<PublicKey> from_record(DkimKeyType type, std::string_view p);
};

// Checks `signature` over the header data `data` (§3.7) with `key`.
bool verify_signature(const PublicKey& key, DkimAlgorithm a, std::string_view data,
                      std::string_view signature);

class PrivateKey {
 public:
  // A new key: RSA with `bits` (1024..4096) or Ed25519 (bits ignored).
  static Result<PrivateKey> generate(DkimKeyType type, int bits = 2048);
  // PKCS #8 (or traditional RSA) PEM.
  static Result<PrivateKey> from_pem(std::string_view pem);

  DkimKeyType type() const { return type_; }
  int bits() const { return bits_; }
  // PKCS #8 PEM, unencrypted (the file is mode 0600).
  Result<std::string> to_pem() const;
  // The base64 p= value of the key record: DER SubjectPublicKeyInfo for
  // RSA (RFC 6376 §3.6.1), the raw 32 octets for Ed25519 (RFC 8463 §4).
  Result<std::string> public_record_value() const;
  // "v=DKIM1; k=rsa; p=..." (or k=ed25519).
  Result<std::string> txt_record() const;
  // Signs the header data (§3.7); rsa-sha256 or ed25519-sha256 only.
  Result<std::string> sign(std::string_view data) const;
  // The algorithm this key signs with.
  DkimAlgorithm algorithm() const {
    return type_ == DkimKeyType::kEd25519 ? DkimAlgorithm::kEd25519Sha256
                                          : DkimAlgorithm::kRsaSha256;
  }

 private:
  PkeyPtr pkey_;
  DkimKeyType type_ = DkimKeyType::kRsa;
  int bits_ = 0;
};

}  // namespace tegami::dkim
