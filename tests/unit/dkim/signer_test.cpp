// DkimSigner round trips through DkimVerifier (rsa-sha256 and
// ed25519-sha256), tampering, l= with appended content, oversigning, and
// hostile messages (20 signatures, bad base64, enormous l=).
#include "dkim/dkim_signer.hpp"

#include <gtest/gtest.h>

#include "dkim/dkim_verifier.hpp"
#include "dkim_test_util.hpp"

namespace tegami::dkim {
namespace {

using mailauth::DkimResult;

constexpr std::int64_t kNow = 1'790'000'000;

const std::string kMessage =
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.net\r\n"
    "Subject: Lunch\r\n"
    "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
    "Message-ID: <1@example.com>\r\n"
    "Received: from somewhere\r\n"
    "\r\n"
    "Shall we meet at noon?\r\n"
    "\r\n"
    "-- \r\n"
    "Alice\r\n";

const PrivateKey& rsa_key() {
  static PrivateKey k = *PrivateKey::generate(DkimKeyType::kRsa, 2048);
  return k;
}
const PrivateKey& ed_key() {
  static PrivateKey k = *PrivateKey::generate(DkimKeyType::kEd25519);
  return k;
}

std::string sign(const std::string& msg, const PrivateKey& key, bool body_length = false,
                 std::size_t piece = 0, std::string identity = "") {
  DkimSigner s({.domain = "example.com",
                .selector = "sel",
                .key = key,
                .timestamp = kNow,
                .expire_after = 86400,
                .identity = identity,
                .body_length = body_length});
  if (piece == 0) piece = msg.size() + 1;
  for (std::size_t i = 0; i < msg.size(); i += piece)
    s.feed(std::string_view(msg).substr(i, piece));
  s.finish();
  auto f = s.signature_field();
  EXPECT_TRUE(f) << (f ? "" : f.error().message);
  return f ? *f : "";
}

test::Zone zone_for(const PrivateKey& key, std::string extra = "") {
  test::Zone z;
  std::string rec = *key.txt_record();
  if (!extra.empty()) rec = extra + "; " + rec.substr(std::string("v=DKIM1; ").size());
  z.txt("sel._domainkey.example.com", rec);
  return z;
}

class DkimRoundTrip : public ::testing::TestWithParam<DkimKeyType> {
 protected:
  const PrivateKey& key() const { return GetParam() == DkimKeyType::kRsa ? rsa_key() : ed_key(); }
};

TEST_P(DkimRoundTrip, SignThenVerify) {
  std::string field = sign(kMessage, key());
  EXPECT_EQ(field.substr(0, 16), "DKIM-Signature: ");
  EXPECT_NE(field.find("h=from:from:to:subject:date:message-id;"), std::string::npos) << field;
  EXPECT_NE(field.find("t=1790000000;"), std::string::npos);
  EXPECT_NE(field.find("x=1790086400;"), std::string::npos);
  for (std::size_t at = 0; (at = field.find("\r\n", at)) != std::string::npos; at += 2)
    ASSERT_TRUE(at + 2 == field.size() || field[at + 2] == '\t') << "folded lines continue";
  std::size_t line = 0;
  for (std::size_t i = 0, start = 0; i <= field.size(); ++i)
    if (i == field.size() || field[i] == '\r') {
      line = std::max(line, i - start);
      start = i + 2;
    }
  EXPECT_LE(line, 78u);

  auto r = test::run_verifier(field + kMessage, zone_for(key()), kNow + 60);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].result, DkimResult::kPass) << r[0].reason;
  EXPECT_EQ(r[0].algorithm, GetParam() == DkimKeyType::kRsa ? "rsa-sha256" : "ed25519-sha256");
  // Signed from pieces, verified from an LF copy in pieces.
  std::string field2 = sign(kMessage, key(), false, 3);
  auto lf = test::run_verifier(test::to_lf(field2 + kMessage), zone_for(key()), kNow, 5);
  EXPECT_EQ(lf[0].result, DkimResult::kPass) << lf[0].reason;
}

TEST_P(DkimRoundTrip, Tampering) {
  std::string field = sign(kMessage, key());
  auto verify = [&](std::string msg) {
    return test::run_verifier(field + msg, zone_for(key()), kNow)[0];
  };
  auto body = verify(kMessage.substr(0, kMessage.size() - 7) + "Mallory\r\n");
  EXPECT_EQ(body.result, DkimResult::kFail);
  EXPECT_EQ(body.reason, "body hash mismatch");
  std::string h = kMessage;
  h.replace(h.find("Lunch"), 5, "Dinner");
  auto header = verify(h);
  EXPECT_EQ(header.result, DkimResult::kFail);
  EXPECT_EQ(header.reason, "signature did not verify");
  auto appended = verify(kMessage + "P.S. wire money\r\n");
  EXPECT_EQ(appended.result, DkimResult::kFail);
  // A second From on top: oversigning makes it count.
  auto from = verify("From: Mallory <m@example.org>\r\n" + kMessage);
  EXPECT_EQ(from.result, DkimResult::kFail);
  // Unsigned headers (Received) and trailing empty lines may change.
  std::string relayed = "Received: from relay\r\n" + kMessage + "\r\n\r\n";
  EXPECT_EQ(verify(relayed).result, DkimResult::kPass);
  // Expired.
  auto late = test::run_verifier(field + kMessage, zone_for(key()), kNow + 2 * 86400)[0];
  EXPECT_EQ(late.result, DkimResult::kPermError);
  EXPECT_NE(late.reason.find("expired"), std::string::npos);
}

TEST_P(DkimRoundTrip, BodyLengthReportsUnsignedContent) {
  std::string field = sign(kMessage, key(), true);
  EXPECT_TRUE(field.find(" l=") != std::string::npos || field.find("\tl=") != std::string::npos)
      << field;
  auto exact = test::run_verifier(field + kMessage, zone_for(key()), kNow)[0];
  EXPECT_EQ(exact.result, DkimResult::kPass) << exact.reason;
  EXPECT_EQ(exact.unsigned_body, 0u);
  const std::string tail = "Buy cheap stuff at http://spam.example/\r\n";
  auto appended = test::run_verifier(field + kMessage + tail, zone_for(key()), kNow)[0];
  EXPECT_EQ(appended.result, DkimResult::kPolicy);
  EXPECT_EQ(appended.unsigned_body, tail.size());
  ASSERT_TRUE(appended.length);
  EXPECT_EQ(appended.body_length, *appended.length + tail.size());
  EXPECT_NE(appended.reason.find("unsigned"), std::string::npos);
  // Cut short: l= is now larger than the body.
  auto cut =
      test::run_verifier(field + kMessage.substr(0, kMessage.size() - 7), zone_for(key()), kNow)[0];
  EXPECT_EQ(cut.result, DkimResult::kPermError);
}

TEST_P(DkimRoundTrip, IdentityAndStrictKeys) {
  std::string field = sign(kMessage, key(), false, 0, "alice@mail.example.com");
  auto ok = test::run_verifier(field + kMessage, zone_for(key()), kNow)[0];
  EXPECT_EQ(ok.result, DkimResult::kPass) << ok.reason;
  EXPECT_EQ(ok.identity, "alice@mail.example.com");
  auto strict = test::run_verifier(field + kMessage, zone_for(key(), "v=DKIM1; t=s"), kNow)[0];
  EXPECT_EQ(strict.result, DkimResult::kPermError);
  EXPECT_NE(strict.reason.find("t=s"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, DkimRoundTrip,
                         ::testing::Values(DkimKeyType::kRsa, DkimKeyType::kEd25519));

TEST(DkimSign, ShortRsaKeyIsPolicy) {
  auto small = *PrivateKey::generate(DkimKeyType::kRsa, 1024);
  std::string field = sign(kMessage, small);
  auto r = test::run_verifier(field + kMessage, zone_for(small), kNow)[0];
  EXPECT_EQ(r.result, DkimResult::kPass);  // 1024 is the minimum (RFC 8301 §3.2)
  EXPECT_EQ(r.key_bits, 1024);
  EXPECT_FALSE(PrivateKey::generate(DkimKeyType::kRsa, 512));
}

TEST(DkimSign, PemRoundTrip) {
  for (const PrivateKey* k : {&rsa_key(), &ed_key()}) {
    auto pem = k->to_pem();
    ASSERT_TRUE(pem);
    EXPECT_NE(pem->find("BEGIN PRIVATE KEY"), std::string::npos);
    auto back = PrivateKey::from_pem(*pem);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back->txt_record(), *k->txt_record());
  }
  EXPECT_FALSE(PrivateKey::from_pem("garbage"));
}

TEST(DkimSign, Rfc8463Ed25519KeyMatchesPublishedRecord) {
  auto k = PrivateKey::from_pem(test::kRfc8463EdPrivatePem);
  ASSERT_TRUE(k);
  EXPECT_EQ(*k->txt_record(), test::kRfc8463EdRecord);
}

// ---- hostile ----

TEST(DkimHostile, TwentySignatures) {
  std::string field = sign(kMessage, ed_key());
  std::string msg;
  for (int i = 0; i < 20; ++i) msg += field;
  msg += kMessage;
  DkimVerifier* v = nullptr;
  auto r = test::run_verifier(msg, zone_for(ed_key()), kNow, 0, &v);
  ASSERT_EQ(r.size(), DkimVerifier::kMaxReported);
  EXPECT_EQ(v->signatures_ignored(), 10u);
  for (std::size_t i = 0; i < r.size(); ++i)
    EXPECT_EQ(r[i].result, i < 5 ? DkimResult::kPass : DkimResult::kNeutral) << i;
}

TEST(DkimHostile, BadBase64EnormousLAndHugeH) {
  std::string field = sign(kMessage, ed_key());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string f = field;
    auto at = f.find(from);
    EXPECT_NE(at, std::string::npos);
    f.replace(at, from.size(), to);
    return test::run_verifier(f + kMessage, zone_for(ed_key()), kNow)[0];
  };
  auto b64 = with("b=", "b=!!");
  EXPECT_EQ(b64.result, DkimResult::kPermError);
  EXPECT_NE(b64.reason.find("base64"), std::string::npos);
  auto l = with("bh=", "l=" + std::string(76, '9') + "; bh=");
  EXPECT_EQ(l.result, DkimResult::kPermError);
  std::string h = "h=from";
  for (int i = 0; i < 100000; ++i) h += ":x";
  auto big = with("h=", h + "; z=");
  EXPECT_EQ(big.result, DkimResult::kPermError);
  auto garbage = test::run_verifier("DKIM-Signature: ;;;===\r\n" + kMessage, test::Zone{}, kNow);
  EXPECT_EQ(garbage[0].result, DkimResult::kPermError);
}

TEST(DkimHostile, HeaderBlockTooLarge) {
  std::string msg =
      sign(kMessage, ed_key()) + "X-Junk: " + std::string(2 << 20, 'x') + "\r\n" + kMessage;
  DkimVerifier* v = nullptr;
  auto r = test::run_verifier(msg, zone_for(ed_key()), kNow, 65536, &v);
  EXPECT_TRUE(r.empty());
  EXPECT_FALSE(v->problem().empty());
}

}  // namespace
}  // namespace tegami::dkim
