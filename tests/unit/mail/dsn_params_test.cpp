#include "mail/dsn_params.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace tegami::mail {
namespace {

// RFC 3461 §4: xtext.
TEST(DsnParams, XtextDecodeTable) {
  struct Case {
    std::string in;
    std::optional<std::string> out;
  };
  const std::vector<Case> cases = {
      {"", std::string()},
      {"abc", std::string("abc")},
      {"a+2Bb", std::string("a+b")},
      {"+3D", std::string("=")},
      {"+20x+7E", std::string(" x~")},
      {"+2b", std::string("+")},  // lower-case hex is read (never written)
      {"!~", std::string("!~")},
      {"+C3+B6", std::string("\xc3\xb6")},
      {"+", std::nullopt},
      {"a+", std::nullopt},
      {"a+2", std::nullopt},
      {"a+2G", std::nullopt},
      {"a+G2", std::nullopt},
      {"a=b", std::nullopt},
      {"a b", std::nullopt},
      {"a\x7f", std::nullopt},
      {"\xc3\xb6", std::nullopt},
      {std::string("a\0b", 3), std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(xtext_decode(c.in), c.out) << c.in;
  }
}

TEST(DsnParams, XtextEncodeRoundTrip) {
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_encode("bob@example.test"), "bob@example.test");
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  const std::string enc = xtext_encode(all);
  for (char c : enc) {
    EXPECT_TRUE(c >= '!' && c <= '~' && c != '=') << static_cast<int>(c);
  }
  EXPECT_EQ(xtext_decode(enc), all);
}

TEST(DsnParams, Notify) {
  EXPECT_EQ(parse_notify("NEVER")->bits, DsnNotify::kNever);
  EXPECT_EQ(parse_notify("success,FAILURE,Delay")->bits,
            DsnNotify::kSuccess | DsnNotify::kFailure | DsnNotify::kDelay);
  EXPECT_EQ(parse_notify("FAILURE,FAILURE")->bits, DsnNotify::kFailure);
  for (const char* bad : {"", ",", "NEVER,NEVER,SUCCESS", "SUCCESS,NEVER", "SUCCESS,", "NONE",
                          "SUCCESS;FAILURE", "SUCCESS FAILURE"}) {
    auto r = parse_notify(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().smtp_code, 501) << bad;
    EXPECT_EQ(r.error().enhanced, "5.5.4") << bad;
  }
  EXPECT_EQ(notify_text(*parse_notify("delay,success")), "SUCCESS,DELAY");
  EXPECT_EQ(notify_text(*parse_notify("never")), "NEVER");
  EXPECT_EQ(notify_text(DsnNotify{}), "");
}

TEST(DsnParams, OrcptRetEnvid) {
  auto o = parse_orcpt("RFC822;a+2Bb@example.test");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->type, "rfc822");
  EXPECT_EQ(o->address, "a+b@example.test");
  EXPECT_EQ(orcpt_text(*o), "rfc822;a+2Bb@example.test");
  EXPECT_EQ(orcpt_text(DsnOrcpt{}), "");
  EXPECT_TRUE(parse_orcpt("x-unknown-type;anything"));
  EXPECT_FALSE(parse_orcpt("rfc822"));
  EXPECT_FALSE(parse_orcpt("rfc.822;a@b"));  // "." is a special, not atom text
  EXPECT_FALSE(parse_orcpt("rfc822;a+0Db"));
  EXPECT_EQ(parse_ret("hdrs").value(), DsnRet::kHdrs);
  EXPECT_EQ(parse_ret("Full").value(), DsnRet::kFull);
  EXPECT_FALSE(parse_ret("FULLER"));
  EXPECT_EQ(ret_text(DsnRet::kFull), "FULL");
  EXPECT_EQ(ret_text(DsnRet::kUnspecified), "");
  EXPECT_EQ(parse_envid("id+20with+20spaces").value(), "id with spaces");
  EXPECT_FALSE(parse_envid(""));
  EXPECT_FALSE(parse_envid("a+09b"));  // a tab: not printable
  // The limits count the value as sent (xtext), RFC 3461 §4.2/§4.4.
  EXPECT_TRUE(parse_envid(std::string(kMaxEnvid, 'e')));
  EXPECT_FALSE(parse_envid(std::string(kMaxEnvid + 1, 'e')));
  EXPECT_TRUE(parse_orcpt("rfc822;" + std::string(kMaxOrcpt - 7, 'o')));
  EXPECT_FALSE(parse_orcpt("rfc822;" + std::string(kMaxOrcpt - 6, 'o')));
}

}  // namespace
}  // namespace tegami::mail
