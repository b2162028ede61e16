#include "auth/scram.hpp"

#include <gtest/gtest.h>

#include "core/base64.hpp"

namespace tegami::scram {
namespace {

// RFC 7677 §3.
constexpr std::string_view kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

std::string rfc_salt() {
  return *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
}

ServerExchange rfc_exchange(std::optional<Keys> keys) {
  auto first = parse_client_first(kClientFirst);
  EXPECT_TRUE(first.has_value());
  return ServerExchange(*first, rfc_salt(), 4096, keys, kServerNonce);
}

TEST(Scram, Rfc7677Vector) {
  auto first = parse_client_first(kClientFirst);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->gs2_header, "n,,");
  EXPECT_EQ(first->username, "user");
  EXPECT_EQ(first->authzid, "");
  EXPECT_EQ(first->nonce, "rOprNGfwEbeRWgbNEkqO");
  EXPECT_EQ(first->bare, "n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto x = rfc_exchange(derive_keys("pencil", rfc_salt(), 4096));
  EXPECT_EQ(x.server_first(), kServerFirst);
  auto fin = x.finish(kClientFinal);
  ASSERT_TRUE(fin) << to_string(fin.error());
  EXPECT_EQ(*fin, kServerFinal);
}

TEST(Scram, WrongPassword) {
  auto x = rfc_exchange(derive_keys("pencil2", rfc_salt(), 4096));
  auto fin = x.finish(kClientFinal);
  ASSERT_FALSE(fin);
  EXPECT_EQ(fin.error(), Failure::kProof);
}

TEST(Scram, NoKeysFailsAtTheProof) {
  auto x = rfc_exchange(std::nullopt);
  EXPECT_EQ(x.server_first(), kServerFirst);
  auto fin = x.finish(kClientFinal);
  ASSERT_FALSE(fin);
  EXPECT_EQ(fin.error(), Failure::kProof);
}

TEST(Scram, WrongProof) {
  auto x = rfc_exchange(derive_keys("pencil", rfc_salt(), 4096));
  std::string bad(kClientFinal);
  bad.replace(bad.find("p=") + 2, 4, "AAAA");
  auto fin = x.finish(bad);
  ASSERT_FALSE(fin);
  EXPECT_EQ(fin.error(), Failure::kProof);
  // A proof of the wrong length is malformed.
  fin = x.finish("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA");
  ASSERT_FALSE(fin);
  EXPECT_EQ(fin.error(), Failure::kMalformed);
}

TEST(Scram, NonceMustMatch) {
  auto x = rfc_exchange(derive_keys("pencil", rfc_salt(), 4096));
  auto fin =
      x.finish("c=biws,r=rOprNGfwEbeRWgbNEkqOother,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  ASSERT_FALSE(fin);
  EXPECT_EQ(fin.error(), Failure::kNonce);
  // Only the client's half is not enough.
  fin = x.finish("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  ASSERT_FALSE(fin);
  EXPECT_EQ(fin.error(), Failure::kNonce);
}

TEST(Scram, ChannelBindingMustEchoTheHeader) {
  auto x = rfc_exchange(derive_keys("pencil", rfc_salt(), 4096));
  // "eSws" is base64 of "y,,", which is not what the client sent.
  auto fin = x.finish(
      "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  ASSERT_FALSE(fin);
  EXPECT_EQ(fin.error(), Failure::kChannelBinding);
}

TEST(Scram, GsHeaderFlags) {
  EXPECT_EQ(parse_client_first("p=tls-unique,,n=user,r=abc").error(), Failure::kChannelBinding);
  EXPECT_EQ(parse_client_first("p=tls-server-end-point,,n=user,r=abc").error(),
            Failure::kChannelBinding);
  auto y = parse_client_first("y,,n=user,r=abc");
  ASSERT_TRUE(y);
  EXPECT_EQ(y->gs2_header, "y,,");
  EXPECT_EQ(parse_client_first("x,,n=user,r=abc").error(), Failure::kMalformed);
  EXPECT_EQ(parse_client_first("n,n=user,r=abc").error(), Failure::kMalformed);
}

TEST(Scram, YFlagRoundTrip) {
  // "y,," must come back as c=eSws.
  auto first = parse_client_first("y,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  ASSERT_TRUE(first);
  ServerExchange x(*first, rfc_salt(), 4096, derive_keys("pencil", rfc_salt(), 4096), kServerNonce);
  auto fin = x.finish(kClientFinal);  // c=biws: wrong for "y,,"
  ASSERT_FALSE(fin);
  EXPECT_EQ(fin.error(), Failure::kChannelBinding);
}

TEST(Scram, Authzid) {
  auto same = parse_client_first("n,a=user,n=user,r=abc");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->authzid, "user");
  EXPECT_EQ(same->gs2_header, "n,a=user,");
  EXPECT_EQ(same->bare, "n=user,r=abc");
  EXPECT_EQ(parse_client_first("n,a=admin,n=user,r=abc").error(), Failure::kAuthzid);
  EXPECT_EQ(parse_client_first("n,b=user,n=user,r=abc").error(), Failure::kMalformed);
}

TEST(Scram, Malformed) {
  for (std::string_view m :
       {"", "n", "n,,", "n,,r=abc", "n,,n=user", "n,,n=user,r=", "n,,n=,r=abc", "n,,n=us=er,r=abc",
        "n,,n=us=2Cer,r=a,b", "n,,n=user,r=abc,1", "n,,n=user,x=abc",
        "n,,n=user,r=a\x01"
        "c"}) {
    auto r = parse_client_first(m);
    EXPECT_FALSE(r) << m;
    if (!r) {
      EXPECT_EQ(r.error(), Failure::kMalformed) << m;
    }
  }
  EXPECT_EQ(parse_client_first("n,,m=ext,n=user,r=abc").error(), Failure::kExtension);
  EXPECT_TRUE(parse_client_first("n,,n=user,r=abc,x=ignored"));
  EXPECT_FALSE(parse_client_first("n,,n=user,r=" + std::string(kMaxNonce + 1, 'a')));
  for (std::string_view m :
       {"", "c=biws", "c=biws,r=abc", "r=abc,c=biws,p=AAAA",
        "c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "c=biws,r=abc,p=not*base64"}) {
    EXPECT_FALSE(parse_client_final(m)) << m;
  }
}

TEST(Scram, Saslname) {
  EXPECT_EQ(decode_saslname("a=2Cb=3Dc").value_or("?"), "a,b=c");
  EXPECT_FALSE(decode_saslname("a=2"));
  EXPECT_FALSE(decode_saslname("a=2c"));
  EXPECT_FALSE(decode_saslname("a,b"));
  EXPECT_FALSE(decode_saslname(""));
  EXPECT_EQ(encode_saslname("a,b=c"), "a=2Cb=3Dc");
  auto first = parse_client_first("n,,n=odd=2Cname=3D,r=abc");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->username, "odd,name=");
}

TEST(Scram, SaltAndNonce) {
  EXPECT_EQ(derive_salt("key", "alice@example.test").size(), kSaltSize);
  EXPECT_EQ(derive_salt("key", "alice@example.test"), derive_salt("key", "alice@example.test"));
  EXPECT_NE(derive_salt("key", "alice@example.test"), derive_salt("key", "bob@example.test"));
  EXPECT_NE(derive_salt("key", "alice@example.test"), derive_salt("other", "alice@example.test"));
  std::string n1 = make_server_nonce(), n2 = make_server_nonce();
  EXPECT_EQ(n1.size(), 24u);
  EXPECT_NE(n1, n2);
  EXPECT_EQ(n1.find(','), std::string::npos);
}

}  // namespace
}  // namespace tegami::scram
