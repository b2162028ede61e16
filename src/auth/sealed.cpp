#include "auth/sealed.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/base64.hpp"

namespace tegami {

namespace {

std::string errno_text(const std::string& what, const std::string& path, int err) {
  return what + " " + path + ": " + std::strerror(err);
}

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

Result<void> write_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(Error::temp(std::string("write: ") + std::strerror(errno)));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

Result<void> fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(Error::temp(errno_text("cannot open directory", dir, errno)));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return fail(Error::temp(errno_text("cannot fsync", dir, err)));
  return {};
}

}  // namespace

SecretKey::~SecretKey() {
  OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

Result<void> create_key_file(const std::string& path) {
  std::array<std::uint8_t, kSecretKeySize> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    return fail(Error::temp("cannot get random bytes for the key"));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    int err = errno;
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return fail(Error::perm(errno_text("cannot create key file", path, err)));
  }
  // The umask may have narrowed 0600 further, never widened it; make it exact.
  auto r = write_all(fd, bytes.data(), bytes.size());
  OPENSSL_cleanse(bytes.data(), bytes.size());
  if (r && ::fchmod(fd, 0600) != 0) r = fail(Error::temp(errno_text("cannot chmod", path, errno)));
  if (r && ::fsync(fd) != 0) r = fail(Error::temp(errno_text("cannot fsync", path, errno)));
  if (::close(fd) != 0 && r) r = fail(Error::temp(errno_text("cannot close", path, errno)));
  if (!r) {
    ::unlink(path.c_str());
    return r;
  }
  auto parent = std::filesystem::path(path).parent_path().string();
  return fsync_dir(parent.empty() ? "." : parent);
}

Result<SecretKey> load_key_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Error::perm(errno_text("cannot open key file", path, errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(Error::perm(errno_text("cannot stat key file", path, err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(Error::perm("key file " + path + " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return fail(
        Error::perm("key file " + path + " must not be accessible by group or others (chmod 600)"));
  }
  if (st.st_size != static_cast<off_t>(kSecretKeySize)) {
    ::close(fd);
    return fail(Error::perm("key file " + path + " must hold exactly 32 bytes"));
  }
  std::array<std::uint8_t, kSecretKeySize> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got != bytes.size()) {
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return fail(Error::perm("cannot read key file " + path));
  }
  SecretKey key(bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return key;
}

namespace sealed {

namespace {

// The authenticated data: version and nonce (the header) plus the caller's context.
bool add_aad(EVP_CIPHER_CTX* ctx, const std::uint8_t* header, std::size_t header_len,
             std::string_view aad) {
  int len = 0;
  if (EVP_CipherUpdate(ctx, nullptr, &len, header, static_cast<int>(header_len)) != 1) return false;
  if (!aad.empty() &&
      EVP_CipherUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                       static_cast<int>(aad.size())) != 1)
    return false;
  return true;
}

constexpr std::size_t kHeaderSize = 1 + kNonceSize;
constexpr std::size_t kMaxPlaintext = 64 * 1024;  // secrets are short; bound the work

}  // namespace

Result<std::string> seal(const SecretKey& key, std::string_view plaintext, std::string_view aad) {
  if (plaintext.size() > kMaxPlaintext || aad.size() > kMaxPlaintext)
    return fail(Error::perm("secret too long to seal"));
  std::string blob(kHeaderSize + plaintext.size() + kTagSize, '\0');
  auto* out = reinterpret_cast<std::uint8_t*>(blob.data());
  out[0] = kVersion;
  if (RAND_bytes(out + 1, static_cast<int>(kNonceSize)) != 1)
    return fail(Error::temp("cannot get random bytes for a nonce"));

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx &&
            EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceSize),
                                nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), out + 1) == 1 &&
            add_aad(ctx.get(), out, kHeaderSize, aad);
  if (ok && !plaintext.empty())
    ok = EVP_EncryptUpdate(ctx.get(), out + kHeaderSize, &len,
                           reinterpret_cast<const unsigned char*>(plaintext.data()),
                           static_cast<int>(plaintext.size())) == 1;
  int fin = 0;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), out + kHeaderSize + len, &fin) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                           out + kHeaderSize + plaintext.size()) == 1;
  if (!ok) return fail(Error::temp("AES-256-GCM encryption failed"));
  return base64_encode(blob);
}

Result<std::string> open(const SecretKey& key, std::string_view sealed_b64, std::string_view aad) {
  const Error bad =
      Error::perm("sealed secret does not open (wrong key, wrong account or damaged)");
  if (sealed_b64.size() > 2 * kMaxPlaintext) return fail(bad);
  auto raw = base64_decode(sealed_b64);
  if (!raw || raw->size() < kHeaderSize + kTagSize) return fail(bad);
  const auto* in = reinterpret_cast<const std::uint8_t*>(raw->data());
  if (in[0] != kVersion) return fail(bad);
  std::size_t ct_len = raw->size() - kHeaderSize - kTagSize;

  std::string plain(ct_len, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceSize),
                                nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), in + 1) == 1 &&
            add_aad(ctx.get(), in, kHeaderSize, aad);
  if (ok && ct_len > 0)
    ok = EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                           in + kHeaderSize, static_cast<int>(ct_len)) == 1;
  // The tag is an input here; OpenSSL's API takes a non-const pointer.
  std::array<std::uint8_t, kTagSize> tag{};
  std::memcpy(tag.data(), in + kHeaderSize + ct_len, kTagSize);
  int fin = 0;
  ok = ok &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                           tag.data()) == 1 &&
       EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &fin) ==
           1;
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return fail(bad);
  }
  return plain;
}

}  // namespace sealed

}  // namespace tegami
