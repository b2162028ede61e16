#include "auth/apop.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>

namespace tegami {

namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

std::string apop_digest(std::string_view timestamp, std::string_view secret) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), timestamp.data(), timestamp.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), secret.data(), secret.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md, &md_len) != 1)
    return {};
  std::string out;
  out.reserve(2 * md_len);
  for (unsigned int i = 0; i < md_len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  OPENSSL_cleanse(md, sizeof md);
  return out;
}

bool apop_verify(std::string_view timestamp, std::string_view secret,
                 std::string_view client_digest) {
  if (client_digest.size() != kApopDigestLength) return false;
  char lowered[kApopDigestLength];
  for (std::size_t i = 0; i < kApopDigestLength; ++i) {
    char c = client_digest[i];
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    lowered[i] = c;
  }
  std::string expected = apop_digest(timestamp, secret);
  if (expected.size() != kApopDigestLength) return false;
  bool ok = CRYPTO_memcmp(expected.data(), lowered, kApopDigestLength) == 0;
  OPENSSL_cleanse(expected.data(), expected.size());
  return ok;
}

}  // namespace tegami
