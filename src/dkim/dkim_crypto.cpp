#include "dkim/dkim_crypto.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdexcept>
#include <utility>

#include "core/base64.hpp"

namespace tegami::dkim {

namespace {

const EVP_MD* md_of(DkimHash h) {
  return h == DkimHash::kSha1 ? EVP_sha1() : EVP_sha256();
}

PkeyPtr own(EVP_PKEY* k) {
  return PkeyPtr(k, [](EVP_PKEY* p) { EVP_PKEY_free(p); });
}

struct MdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~MdCtx() { EVP_MD_CTX_free(ctx); }
};

struct Bio {
  BIO* bio;
  explicit Bio(BIO* b) : bio(b) {}
  ~Bio() { BIO_free(bio); }
};

std::string openssl_error(std::string_view what) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  std::string out(what);
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  return out;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

Hasher::Hasher(DkimHash h) : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, md_of(h), nullptr) != 1)
    throw std::runtime_error("EVP_DigestInit_ex failed");
}
Hasher::~Hasher() {
  EVP_MD_CTX_free(ctx_);
}
Hasher::Hasher(Hasher&& o) noexcept : ctx_(o.ctx_) {
  o.ctx_ = nullptr;
}
Hasher& Hasher::operator=(Hasher&& o) noexcept {
  std::swap(ctx_, o.ctx_);
  return *this;
}
void Hasher::update(std::string_view data) {
  if (!data.empty()) EVP_DigestUpdate(ctx_, data.data(), data.size());
}
std::string Hasher::final() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_, out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string digest(DkimHash h, std::string_view data) {
  Hasher x(h);
  x.update(data);
  return x.final();
}

Result<PublicKey> PublicKey::from_record(DkimKeyType type, std::string_view p) {
  PublicKey k;
  k.type = type;
  if (type == DkimKeyType::kEd25519) {
    if (p.size() != 32) return fail(Error::perm("ed25519 key is not 32 octets"));
    EVP_PKEY* e = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(p), p.size());
    if (!e) return fail(Error::perm(openssl_error("bad ed25519 key")));
    k.pkey = own(e);
    k.bits = 256;
    return k;
  }
  if (p.size() > 16384) return fail(Error::perm("RSA key record too large"));
  const unsigned char* in = bytes(p);
  EVP_PKEY* e = d2i_PUBKEY(nullptr, &in, static_cast<long>(p.size()));
  if (e && (EVP_PKEY_get_base_id(e) != EVP_PKEY_RSA || in != bytes(p) + p.size())) {
    EVP_PKEY_free(e);
    e = nullptr;
  }
  if (!e) {
    // RFC 6376 §3.6.1 names PKCS#1 RSAPublicKey; most publish SPKI. Both.
    ERR_clear_error();
    in = bytes(p);
    e = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &in, static_cast<long>(p.size()));
    if (e && in != bytes(p) + p.size()) {
      EVP_PKEY_free(e);
      e = nullptr;
    }
  }
  if (!e) return fail(Error::perm(openssl_error("p= is not an RSA public key")));
  k.pkey = own(e);
  k.bits = EVP_PKEY_get_bits(e);
  return k;
}

bool verify_signature(const PublicKey& key, DkimAlgorithm a, std::string_view data,
                      std::string_view signature) {
  MdCtx m;
  if (!m.ctx || !key.pkey) return false;
  int ok = 0;
  if (a == DkimAlgorithm::kEd25519Sha256) {
    if (key.type != DkimKeyType::kEd25519) return false;
    std::string d = digest(DkimHash::kSha256, data);
    if (EVP_DigestVerifyInit(m.ctx, nullptr, nullptr, nullptr, key.pkey.get()) == 1)
      ok = EVP_DigestVerify(m.ctx, bytes(signature), signature.size(), bytes(d), d.size());
  } else {
    if (key.type != DkimKeyType::kRsa) return false;
    if (EVP_DigestVerifyInit(m.ctx, nullptr, md_of(mailauth::hash_of(a)), nullptr,
                             key.pkey.get()) == 1)
      ok = EVP_DigestVerify(m.ctx, bytes(signature), signature.size(), bytes(data), data.size());
  }
  ERR_clear_error();
  return ok == 1;
}

Result<PrivateKey> PrivateKey::generate(DkimKeyType type, int bits) {
  PrivateKey k;
  k.type_ = type;
  EVP_PKEY* e = nullptr;
  if (type == DkimKeyType::kEd25519) {
    e = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  } else {
    if (bits < 1024 || bits > 4096)
      return fail(Error::perm("RSA key size must be 1024 to 4096 bits"));
    e = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  }
  if (!e) return fail(Error::temp(openssl_error("key generation failed")));
  k.pkey_ = own(e);
  k.bits_ = type == DkimKeyType::kEd25519 ? 256 : EVP_PKEY_get_bits(e);
  return k;
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!b.bio) return fail(Error::temp("out of memory"));
  EVP_PKEY* e = PEM_read_bio_PrivateKey(b.bio, nullptr, nullptr, nullptr);
  if (!e) return fail(Error::perm(openssl_error("not a PEM private key")));
  PrivateKey k;
  k.pkey_ = own(e);
  int id = EVP_PKEY_get_base_id(e);
  if (id == EVP_PKEY_ED25519) {
    k.type_ = DkimKeyType::kEd25519;
    k.bits_ = 256;
  } else if (id == EVP_PKEY_RSA) {
    k.type_ = DkimKeyType::kRsa;
    k.bits_ = EVP_PKEY_get_bits(e);
  } else {
    return fail(Error::perm("private key is neither RSA nor Ed25519"));
  }
  return k;
}

Result<std::string> PrivateKey::to_pem() const {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b.bio ||
      PEM_write_bio_PrivateKey(b.bio, pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail(Error::temp(openssl_error("cannot write PEM")));
  char* data = nullptr;
  long n = BIO_get_mem_data(b.bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Result<std::string> PrivateKey::public_record_value() const {
  if (type_ == DkimKeyType::kEd25519) {
    unsigned char raw[32];
    size_t n = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(pkey_.get(), raw, &n) != 1 || n != 32)
      return fail(Error::temp(openssl_error("cannot read ed25519 public key")));
    return base64_encode(std::string_view(reinterpret_cast<char*>(raw), n));
  }
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(pkey_.get(), &der);
  if (n <= 0) return fail(Error::temp(openssl_error("cannot encode RSA public key")));
  std::string out = base64_encode(std::string_view(reinterpret_cast<char*>(der), n));
  OPENSSL_free(der);
  return out;
}

Result<std::string> PrivateKey::txt_record() const {
  auto p = public_record_value();
  if (!p) return fail(p.error());
  return std::string("v=DKIM1; k=") + (type_ == DkimKeyType::kEd25519 ? "ed25519" : "rsa") +
         "; p=" + *p;
}

Result<std::string> PrivateKey::sign(std::string_view data) const {
  MdCtx m;
  if (!m.ctx) return fail(Error::temp("out of memory"));
  std::string d;
  std::string_view input = data;
  const EVP_MD* md = nullptr;
  if (type_ == DkimKeyType::kEd25519) {
    d = digest(DkimHash::kSha256, data);  // RFC 8463 §3: sign the SHA-256 hash
    input = d;
  } else {
    md = EVP_sha256();
  }
  if (EVP_DigestSignInit(m.ctx, nullptr, md, nullptr, pkey_.get()) != 1)
    return fail(Error::temp(openssl_error("sign init failed")));
  size_t n = 0;
  if (EVP_DigestSign(m.ctx, nullptr, &n, bytes(input), input.size()) != 1)
    return fail(Error::temp(openssl_error("sign failed")));
  std::string sig(n, '\0');
  if (EVP_DigestSign(m.ctx, reinterpret_cast<unsigned char*>(sig.data()), &n, bytes(input),
                     input.size()) != 1)
    return fail(Error::temp(openssl_error("sign failed")));
  sig.resize(n);
  return sig;
}

}  // namespace tegami::dkim
