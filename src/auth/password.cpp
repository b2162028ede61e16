#include "auth/password.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <array>
#include <cstring>
#include <memory>

namespace tegami {

namespace {

// Prefixes we accept on verification, in the order we prefer them.
constexpr std::array<std::string_view, 4> kAcceptedPrefixes = {"$y$", "$6$", "$5$", "$2b$"};

bool has_accepted_prefix(std::string_view hash) {
  for (auto p : kAcceptedPrefixes) {
    if (hash.substr(0, p.size()) == p) return true;
  }
  return false;
}

// crypt_data is ~32 KiB: keep it off the stack, and wipe it after use
// because it holds intermediate state derived from the password.
struct CryptDataDeleter {
  void operator()(crypt_data* d) const {
    OPENSSL_cleanse(d, sizeof(*d));
    delete d;
  }
};
using CryptData = std::unique_ptr<crypt_data, CryptDataDeleter>;

CryptData new_crypt_data() {
  auto* d = new crypt_data;
  std::memset(d, 0, sizeof(*d));
  return CryptData(d);
}

}  // namespace

// Used on every login too: the comparison of crypt_rn's output with the
// whole stored string does the rest. crypt_rn takes C strings: no NUL.
bool has_supported_form(std::string_view hash) {
  if (hash.empty() || hash.size() >= CRYPT_OUTPUT_SIZE) return false;
  if (hash.find('\0') != std::string_view::npos) return false;
  if (!has_accepted_prefix(hash)) return false;  // also refuses "*" and "!" (locked)
  std::string s(hash);
  // $5$ (and, depending on the build, $6$) is rated "legacy" but still secure enough to verify.
  int rc = crypt_checksalt(s.c_str());
  return rc == CRYPT_SALT_OK || rc == CRYPT_SALT_METHOD_LEGACY;
}

bool is_supported_hash(std::string_view hash) {
  if (!has_supported_form(hash)) return false;
  // A complete hash, not just a setting: hashing any phrase with it as the
  // setting must give a string of the same length and the same setting part
  // (everything up to the last '$').
  std::string s(hash);
  auto data = new_crypt_data();
  const char* out = crypt_rn("", s.c_str(), data.get(), sizeof(*data));
  if (out == nullptr || out[0] == '*') return false;
  std::string_view o(out);
  auto cut = hash.rfind('$');
  return o.size() == hash.size() && cut != std::string_view::npos && cut + 1 < hash.size() &&
         o.substr(0, cut + 1) == hash.substr(0, cut + 1);
}

Result<std::string> hash_password(std::string_view password) {
  if (password.empty()) return fail(Error::perm("empty password"));
  if (password.size() > kMaxPasswordLength) return fail(Error::perm("password too long"));
  if (password.find('\0') != std::string_view::npos)
    return fail(Error::perm("password contains a NUL byte"));

  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // count 0 = libxcrypt's default cost; rbytes nullptr = its own OS randomness.
  if (crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof setting) == nullptr)
    return fail(Error::temp("cannot generate a yescrypt salt"));

  std::string phrase(password);
  auto data = new_crypt_data();
  const char* out = crypt_rn(phrase.c_str(), setting, data.get(), sizeof(*data));
  OPENSSL_cleanse(phrase.data(), phrase.size());
  if (out == nullptr || out[0] == '*') return fail(Error::temp("yescrypt hashing failed"));
  return std::string(out);
}

bool verify_password(std::string_view password, std::string_view hash) {
  if (!has_supported_form(hash)) return false;
  if (password.size() > kMaxPasswordLength || password.find('\0') != std::string_view::npos)
    return false;

  std::string phrase(password);
  std::string setting(hash);
  auto data = new_crypt_data();
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(*data));
  OPENSSL_cleanse(phrase.data(), phrase.size());
  if (out == nullptr || out[0] == '*') return false;
  // The length of the output depends only on the scheme and its parameters,
  // which are public (they are in the stored hash), so checking it first
  // leaks nothing; the bytes themselves are compared in constant time.
  std::size_t n = std::strlen(out);
  if (n != hash.size()) return false;
  return CRYPTO_memcmp(out, hash.data(), n) == 0;
}

}  // namespace tegami
