#include "auth/password.hpp"

#include <crypt.h>
#include <gtest/gtest.h>

#include <string>

namespace tegami {
namespace {

// A hash of `password` in the scheme named by `prefix`, made with libxcrypt
// directly so the test does not trust hash_password() for the old schemes.
std::string crypt_with(const char* prefix, const std::string& password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(crypt_gensalt_rn(prefix, 0, nullptr, 0, setting, sizeof setting), nullptr) << prefix;
  crypt_data data{};
  const char* out = crypt_rn(password.c_str(), setting, &data, sizeof data);
  EXPECT_NE(out, nullptr);
  return out ? std::string(out) : std::string();
}

TEST(Password, HashIsYescryptAndVerifies) {
  auto h = hash_password("correct horse");
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->rfind("$y$", 0), 0u) << *h;
  EXPECT_TRUE(is_supported_hash(*h));
  EXPECT_TRUE(verify_password("correct horse", *h));
  EXPECT_FALSE(verify_password("correct horsE", *h));
  EXPECT_FALSE(verify_password("", *h));
  // Fresh salt each time.
  auto h2 = hash_password("correct horse");
  ASSERT_TRUE(h2);
  EXPECT_NE(*h, *h2);
}

TEST(Password, HashRejectsBadInput) {
  EXPECT_FALSE(hash_password(""));
  EXPECT_FALSE(hash_password(std::string("a\0b", 3)));
  EXPECT_FALSE(hash_password(std::string(kMaxPasswordLength + 1, 'x')));
  EXPECT_FALSE(hash_password("").error().temporary);
}

struct SchemeCase {
  const char* prefix;
};

class PasswordScheme : public ::testing::TestWithParam<SchemeCase> {};

TEST_P(PasswordScheme, VerifiesRightAndRejectsWrong) {
  const std::string pw = "s3cret-\xc3\xa9t\xc3\xa9";  // 8-bit passwords are fine
  std::string h = crypt_with(GetParam().prefix, pw);
  ASSERT_EQ(h.rfind(GetParam().prefix, 0), 0u) << h;
  EXPECT_TRUE(is_supported_hash(h));
  EXPECT_TRUE(has_supported_form(h));
  EXPECT_TRUE(verify_password(pw, h));
  for (const char* wrong : {"", "s3cret", "S3cret-\xc3\xa9t\xc3\xa9", "s3cret-\xc3\xa9t\xc3\xa9 "})
    EXPECT_FALSE(verify_password(wrong, h)) << GetParam().prefix << " accepted '" << wrong << "'";
  // One character of the stored hash changed: no match.
  std::string damaged = h;
  damaged.back() = damaged.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(verify_password(pw, damaged));
}

INSTANTIATE_TEST_SUITE_P(All, PasswordScheme,
                         ::testing::Values(SchemeCase{"$y$"}, SchemeCase{"$6$"}, SchemeCase{"$5$"},
                                           SchemeCase{"$2b$"}));

TEST(Password, RefusesUnsupportedAndLockedHashes) {
  const std::string pw = "secret";
  struct Case {
    std::string hash;
    const char* why;
  };
  const Case cases[] = {
      {"", "empty"},
      {"*", "locked"},
      {"!", "locked"},
      {"!" + crypt_with("$6$", pw), "locked with a valid hash behind"},
      {"*" + crypt_with("$y$", pw), "disabled with a valid hash behind"},
      {crypt_with("$1$", pw), "MD5-crypt"},
      {crypt_with("_", pw), "BSDi DES"},
      {"abJnggxhB/yWI", "traditional DES"},
      {"$2a$05$abcdefghijklmnopqrstuuqcYvzGEFmHdHGCHmB0UwuEbzHmzD.Ka", "$2a$ not accepted"},
      {"$y$", "prefix only"},
      {"$6$", "prefix only"},
      {"plaintext", "not a hash"},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(is_supported_hash(c.hash)) << c.why << ": " << c.hash;
    if (std::string(c.why) != "prefix only") {
      EXPECT_FALSE(has_supported_form(c.hash)) << c.why << ": " << c.hash;
    }
    EXPECT_FALSE(verify_password(pw, c.hash)) << c.why << ": " << c.hash;
  }
}

}  // namespace
}  // namespace tegami
