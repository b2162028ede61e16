#include "app/tls_files.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace tegami::cli {

namespace {

template <class T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Free<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION, X509_EXTENSION_free>>;

constexpr long kValidDays = 3650;       // ten years
constexpr long kBackdateSeconds = 300;  // tolerate a client clock slightly behind

std::string openssl_error(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return what + ": " + buf;
}

bool is_ip_literal(const std::string& s) {
  unsigned char b[16];
  return inet_pton(AF_INET, s.c_str(), b) == 1 || inet_pton(AF_INET6, s.c_str(), b) == 1;
}

bool add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

Result<X509Ptr> make_cert(EVP_PKEY* key, const std::string& hostname) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
    return fail(Error::perm(openssl_error("X509_new")));
  BnPtr serial(BN_new());
  // 159 random bits: positive and at most 20 octets (RFC 5280 §4.1.2.2).
  if (!serial || BN_rand(serial.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())))
    return fail(Error::perm(openssl_error("serial number")));
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(kValidDays), 0, nullptr))
    return fail(Error::perm(openssl_error("validity")));
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key) != 1)
    return fail(Error::perm(openssl_error("subject")));
  std::string san = (is_ip_literal(hostname) ? "IP:" : "DNS:") + hostname;
  if (!add_ext(cert.get(), NID_subject_alt_name, san) ||
      !add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(cert.get(), NID_ext_key_usage, "serverAuth") ||
      !add_ext(cert.get(), NID_subject_key_identifier, "hash"))
    return fail(Error::perm(openssl_error("extensions")));
  if (X509_sign(cert.get(), key, EVP_sha256()) <= 0)
    return fail(Error::perm(openssl_error("signing")));
  return cert;
}

// A BIO writing to a new file (O_EXCL) with `mode`.
Result<BioPtr> create_file_bio(const std::string& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return fail(Error::perm("cannot create " + path + ": " + std::strerror(errno)));
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return fail(Error::perm("cannot chmod " + path + ": " + std::strerror(err)));
  }
  BioPtr bio(BIO_new_fd(fd, BIO_CLOSE));
  if (!bio) {
    ::close(fd);
    ::unlink(path.c_str());
    return fail(Error::perm(openssl_error("BIO_new_fd")));
  }
  return bio;
}

Result<void> finish_file(BIO* bio, const std::string& path) {
  int fd = -1;
  if (BIO_flush(bio) != 1 || BIO_get_fd(bio, &fd) < 0 || ::fsync(fd) != 0)
    return fail(Error::perm("cannot write " + path));
  return {};
}

}  // namespace

Result<void> write_self_signed(const std::string& cert_path, const std::string& key_path,
                               const std::string& hostname) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return fail(Error::perm(openssl_error("EC P-256 key generation")));
  auto cert = make_cert(key.get(), hostname);
  if (!cert) return fail(cert.error());

  auto key_bio = create_file_bio(key_path, 0600);
  if (!key_bio) return fail(key_bio.error());
  Result<void> r;
  if (PEM_write_bio_PrivateKey(key_bio->get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
      1)
    r = fail(Error::perm(openssl_error("writing " + key_path)));
  if (r) r = finish_file(key_bio->get(), key_path);
  key_bio->reset();
  if (!r) {
    ::unlink(key_path.c_str());
    return r;
  }

  auto cert_bio = create_file_bio(cert_path, 0644);
  if (!cert_bio) {
    ::unlink(key_path.c_str());
    return fail(cert_bio.error());
  }
  if (PEM_write_bio_X509(cert_bio->get(), cert->get()) != 1)
    r = fail(Error::perm(openssl_error("writing " + cert_path)));
  if (r) r = finish_file(cert_bio->get(), cert_path);
  cert_bio->reset();
  if (!r) {
    ::unlink(cert_path.c_str());
    ::unlink(key_path.c_str());
  }
  return r;
}

Result<void> check_tls_pair(const std::string& cert_path, const std::string& key_path) {
  BioPtr cb(BIO_new_file(cert_path.c_str(), "r"));
  if (!cb) return fail(Error::perm("cannot read TLS certificate " + cert_path));
  X509Ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!cert) return fail(Error::perm(openssl_error("bad TLS certificate " + cert_path)));
  BioPtr kb(BIO_new_file(key_path.c_str(), "r"));
  if (!kb) return fail(Error::perm("cannot read TLS key " + key_path));
  PkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key) return fail(Error::perm(openssl_error("bad TLS key " + key_path)));
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    return fail(Error::perm(openssl_error("TLS key " + key_path + " does not match " + cert_path)));
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) <= 0)
    return fail(Error::perm("TLS certificate " + cert_path + " has expired"));
  ERR_clear_error();
  return {};
}

}  // namespace tegami::cli
