#include "auth/apop.hpp"

#include <gtest/gtest.h>

namespace tegami {
namespace {

constexpr const char* kTimestamp = "<1896.697170952@dbc.mtview.ca.us>";
constexpr const char* kSecret = "tanstaaf";
constexpr const char* kDigest = "c4c9334bac560ecc979e58001b3e22fb";  // RFC 1939 §7

TEST(Apop, Rfc1939Example) {
  EXPECT_EQ(apop_digest(kTimestamp, kSecret), kDigest);
}

TEST(Apop, Verify) {
  struct Case {
    std::string digest;
    bool ok;
  };
  const Case cases[] = {
      {kDigest, true},
      {"C4C9334BAC560ECC979E58001B3E22FB", true},    // upper-case hex
      {"c4c9334bac560ecc979e58001B3E22FB", true},    // mixed
      {"c4c9334bac560ecc979e58001b3e22fc", false},   // last digit off
      {"c4c9334bac560ecc979e58001b3e22f", false},    // 31 digits
      {"c4c9334bac560ecc979e58001b3e22fb0", false},  // 33 digits
      {"c4c9334bac560ecc979e58001b3e22fg", false},   // not hex
      {"c4c9334bac560ecc979e58001b3e22f ", false},
      {std::string("c4c9334bac560ecc979e58001b3e22f\0", 32), false},
      {"", false},
  };
  for (const auto& c : cases)
    EXPECT_EQ(apop_verify(kTimestamp, kSecret, c.digest), c.ok) << "'" << c.digest << "'";
}

TEST(Apop, WrongSecretOrTimestamp) {
  EXPECT_FALSE(apop_verify(kTimestamp, "tanstaaF", kDigest));
  EXPECT_FALSE(apop_verify("<1896.697170953@dbc.mtview.ca.us>", kSecret, kDigest));
}

}  // namespace
}  // namespace tegami
