// DkimVerifier against the RFC 8463 Appendix A example (ed25519-sha256 and
// rsa-sha256 over the RFC 6376 example message), split at every byte, with
// LF line ends, and against broken DNS answers and key records.
#include "dkim/dkim_verifier.hpp"

#include <gtest/gtest.h>

#include "dkim_test_util.hpp"

namespace tegami::dkim {
namespace {

using mailauth::DkimResult;
using mailauth::DnsRcode;
using test::kRfc8463Message;
using test::kRfc8463Time;
using test::rfc8463_zone;
using test::run_verifier;

TEST(DkimVerify, Rfc8463BothSignaturesPass) {
  auto r = run_verifier(kRfc8463Message, rfc8463_zone(), kRfc8463Time);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].result, DkimResult::kPass) << r[0].reason;
  EXPECT_EQ(r[0].algorithm, "ed25519-sha256");
  EXPECT_EQ(r[0].selector, "brisbane");
  EXPECT_EQ(r[0].domain, "football.example.com");
  EXPECT_EQ(r[0].identity, "@football.example.com");
  EXPECT_EQ(r[0].b_prefix, "/gCrinpc");
  EXPECT_EQ(r[0].key_bits, 256);
  EXPECT_EQ(r[1].result, DkimResult::kPass) << r[1].reason;
  EXPECT_EQ(r[1].algorithm, "rsa-sha256");
  EXPECT_EQ(r[1].key_bits, 1024);
  EXPECT_EQ(mailauth::auth_results_dkim(r[1]),
            "dkim=pass (1024-bit key) header.d=football.example.com "
            "header.i=@football.example.com header.s=test header.a=rsa-sha256 header.b=F45dVWDf");
}

TEST(DkimVerify, Rfc8463SplitAtEveryByte) {
  const std::string msg = kRfc8463Message;
  auto zone = rfc8463_zone();
  for (std::size_t p = 1; p <= msg.size(); ++p) {
    auto r = run_verifier(msg, zone, kRfc8463Time, p);
    ASSERT_EQ(r.size(), 2u);
    ASSERT_EQ(r[0].result, DkimResult::kPass) << "piece " << p;
    ASSERT_EQ(r[1].result, DkimResult::kPass) << "piece " << p;
  }
}

TEST(DkimVerify, Rfc8463WithLfLineEnds) {
  auto r = run_verifier(test::to_lf(kRfc8463Message), rfc8463_zone(), kRfc8463Time, 7);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].result, DkimResult::kPass) << r[0].reason;
  EXPECT_EQ(r[1].result, DkimResult::kPass) << r[1].reason;
}

std::string replaced(std::string s, const std::string& a, const std::string& b) {
  auto at = s.find(a);
  EXPECT_NE(at, std::string::npos) << a;
  if (at != std::string::npos) s.replace(at, a.size(), b);
  return s;
}

TEST(DkimVerify, Rfc8463TamperedBodyAndHeader) {
  auto body =
      run_verifier(replaced(kRfc8463Message, "hungry", "thirsty"), rfc8463_zone(), kRfc8463Time);
  ASSERT_EQ(body.size(), 2u);
  EXPECT_EQ(body[0].result, DkimResult::kFail);
  EXPECT_EQ(body[0].reason, "body hash mismatch");
  EXPECT_EQ(body[1].result, DkimResult::kFail);
  auto header = run_verifier(replaced(kRfc8463Message, "Is dinner ready?", "Is lunch ready?"),
                             rfc8463_zone(), kRfc8463Time);
  EXPECT_EQ(header[0].result, DkimResult::kFail);
  EXPECT_EQ(header[0].reason, "signature did not verify");
  EXPECT_EQ(header[1].result, DkimResult::kFail);
  // Whitespace changes in relaxed are harmless.
  auto ws = run_verifier(replaced(kRfc8463Message, "Subject: Is dinner", "Subject:  Is \t dinner"),
                         rfc8463_zone(), kRfc8463Time);
  EXPECT_EQ(ws[0].result, DkimResult::kPass);
  // A second Subject added on top: h= lists subject twice, so it is signed as empty.
  auto added =
      run_verifier(replaced(kRfc8463Message, "From: Joe", "Subject: win a prize\r\nFrom: Joe"),
                   rfc8463_zone(), kRfc8463Time);
  EXPECT_EQ(added[0].result, DkimResult::kFail);
}

TEST(DkimVerify, DnsAnswers) {
  test::Zone temp;
  temp.rcode("brisbane._domainkey.football.example.com", DnsRcode::kTempFail);
  temp.rcode("test._domainkey.football.example.com", DnsRcode::kNoData);
  auto r = run_verifier(kRfc8463Message, temp, kRfc8463Time);
  EXPECT_EQ(r[0].result, DkimResult::kTempError);
  EXPECT_EQ(r[1].result, DkimResult::kPermError);
  auto none = run_verifier(kRfc8463Message, test::Zone{}, kRfc8463Time);  // NXDOMAIN
  EXPECT_EQ(none[0].result, DkimResult::kPermError);
  EXPECT_NE(none[0].reason.find("no key record"), std::string::npos);
  // Never answered: temperror.
  DkimVerifier v({.now = kRfc8463Time});
  v.feed(kRfc8463Message);
  v.finish();
  EXPECT_EQ(v.key_queries().size(), 2u);
  EXPECT_EQ(v.results()[0].result, DkimResult::kTempError);
}

struct KeyCase {
  std::string ed_record;
  DkimResult result;
  std::string reason;
};

TEST(DkimVerify, KeyRecordProblems) {
  const std::vector<KeyCase> cases = {
      {"v=DKIM1; k=ed25519; p=", DkimResult::kPermError, "revoked"},
      {"v=DKIM1; k=rsa; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", DkimResult::kPermError,
       "does not match"},
      {"v=DKIM1; k=ed25519; h=sha1; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
       DkimResult::kPermError, "h= does not allow"},
      {"v=DKIM1; k=ed25519; s=other; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
       DkimResult::kPermError, "not for email"},
      {"v=DKIM1; k=ed25519; p=AAAA", DkimResult::kPermError, "32 octets"},
      {"v=DKIM1; k=ed25519; p=%%%", DkimResult::kPermError, "base64"},
      {"v=DKIM1; k=ed25519; p=a;b", DkimResult::kPermError, "syntax"},
      {"v=DKIM1; k=ed25519; t=s; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", DkimResult::kPass,
       ""},  // i= equals d=: t=s is satisfied
      {"v=DKIM1; k=ed25519; t=y; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", DkimResult::kPass,
       ""},
  };
  for (const auto& c : cases) {
    auto zone = rfc8463_zone();
    zone.answers.erase("brisbane._domainkey.football.example.com");
    zone.txt("brisbane._domainkey.football.example.com", c.ed_record);
    auto r = run_verifier(kRfc8463Message, zone, kRfc8463Time);
    EXPECT_EQ(r[0].result, c.result) << c.ed_record << ": " << r[0].reason;
    EXPECT_NE(r[0].reason.find(c.reason), std::string::npos) << c.ed_record << ": " << r[0].reason;
  }
}

TEST(DkimVerify, SeveralTxtRecordsFirstKeyWins) {
  auto zone = rfc8463_zone();
  zone.answers.erase("brisbane._domainkey.football.example.com");
  zone.txt("brisbane._domainkey.football.example.com", "not a key record");
  zone.txt("brisbane._domainkey.football.example.com", std::string(test::kRfc8463EdRecord));
  auto r = run_verifier(kRfc8463Message, zone, kRfc8463Time);
  EXPECT_EQ(r[0].result, DkimResult::kPass) << r[0].reason;
}

TEST(DkimVerify, FutureAndExpired) {
  // t= is 1528637909; checking a day earlier puts it in the future.
  auto r = run_verifier(kRfc8463Message, rfc8463_zone(), kRfc8463Time - 86400);
  EXPECT_EQ(r[0].result, DkimResult::kPermError);
  EXPECT_NE(r[0].reason.find("future"), std::string::npos);
}

TEST(DkimVerify, NoSignatures) {
  DkimVerifier v({.now = 0});
  v.feed("From: a@b\r\n\r\nhello\r\n");
  v.finish();
  EXPECT_TRUE(v.results().empty());
  EXPECT_TRUE(v.key_queries().empty());
}

}  // namespace
}  // namespace tegami::dkim
