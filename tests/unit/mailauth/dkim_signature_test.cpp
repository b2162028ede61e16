// DKIM-Signature and key record parsing (RFC 6376 §3.2, §3.5, §3.6.1):
// each malformed case names its permerror reason; the A-R rendering.
#include "mailauth/dkim_signature.hpp"

#include <gtest/gtest.h>

namespace tegami::mailauth {
namespace {

const std::string kGood =
    "v=1; a=rsa-sha256; c=relaxed/simple; d=Example.COM; s=Sel; h=From:To; "
    "bh=MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=; b=dGVzdA==";

TEST(DkimTags, ParsesAndTrims) {
  std::string why;
  auto t = parse_tag_list(" a = b ;\r\n c=d e;", &why);
  ASSERT_TRUE(t) << why;
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].name, "a");
  EXPECT_EQ((*t)[0].value, "b");
  EXPECT_EQ((*t)[1].value, "d e");
}

TEST(DkimTags, Errors) {
  for (const char* bad : {"a=b;a=c", "=x", "1a=b", "a", "a=b;;c=d", "a=\x01"}) {
    std::string why;
    EXPECT_FALSE(parse_tag_list(bad, &why)) << bad;
    EXPECT_FALSE(why.empty());
  }
}

TEST(DkimSignature, Good) {
  std::string why;
  auto s = parse_dkim_signature(kGood, &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->domain, "example.com");
  EXPECT_EQ(s->selector, "sel");
  EXPECT_EQ(s->header_canon, DkimCanon::kRelaxed);
  EXPECT_EQ(s->body_canon, DkimCanon::kSimple);
  EXPECT_EQ(s->headers, (std::vector<std::string>{"from", "to"}));
  EXPECT_EQ(s->identity, "@example.com");
  EXPECT_EQ(s->key_name(), "sel._domainkey.example.com");
  EXPECT_EQ(s->b, "test");
}

struct BadCase {
  std::string replace, with, reason;
};

TEST(DkimSignature, PermErrors) {
  const std::vector<BadCase> cases = {
      {"v=1", "v=2", "unsupported version"},
      {"a=rsa-sha256", "a=rsa-md5", "unknown algorithm"},
      {"h=From:To", "h=To:Subject", "h= does not include From"},
      {"b=dGVzdA==", "b=dGVzd!==", "b= is not base64"},
      {"bh=MTIz", "bh=*TIz", "bh= is not base64"},
      {"d=Example.COM", "d=exa mple..com", "bad domain"},
      {"c=relaxed/simple", "c=fancy", "unknown canonicalization"},
      {"s=Sel;", "s=Sel; i=joe@other.org;", "i= domain is not d="},
      {"s=Sel;", "s=Sel; i=joe@notexample.com;", "i= domain is not d="},
      {"s=Sel;", "s=Sel; l=12a;", "bad body length"},
      {"s=Sel;", "s=Sel; q=http;", "no supported query method"},
      {"s=Sel;", "s=Sel; t=20; x=10;", "x= is before t="},
      {"s=Sel;", "s=Sel; s=again;", "duplicate tag"},
      {"d=Example.COM; ", "", "d= missing"},
  };
  for (const auto& c : cases) {
    std::string v = kGood;
    auto at = v.find(c.replace);
    ASSERT_NE(at, std::string::npos) << c.replace;
    v.replace(at, c.replace.size(), c.with);
    std::string why;
    EXPECT_FALSE(parse_dkim_signature(v, &why)) << v;
    EXPECT_NE(why.find(c.reason), std::string::npos) << v << " -> " << why;
  }
}

TEST(DkimSignature, IdentityInSubdomainAndHugeLength) {
  std::string why;
  auto s =
      parse_dkim_signature(kGood + "; i=joe@mail.example.com; l=" + std::string(70, '9'), &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->identity_domain, "mail.example.com");
  EXPECT_EQ(*s->length, std::numeric_limits<std::uint64_t>::max());
}

TEST(DkimSignature, HugeHeaderList) {
  std::string h = "h=from";
  for (int i = 0; i < 5000; ++i) h += ":x-h" + std::to_string(i);
  std::string v = kGood;
  v.replace(v.find("h=From:To"), 9, h);
  std::string why;
  EXPECT_FALSE(parse_dkim_signature(v, &why));
  EXPECT_NE(why.find("too many"), std::string::npos) << why;
}

TEST(DkimSignature, Times) {
  std::string why;
  auto s = parse_dkim_signature(kGood + "; t=1000; x=2000", &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(check_signature_times(*s, 1500, 300), "");
  EXPECT_NE(check_signature_times(*s, 2001, 300), "");  // expired
  EXPECT_NE(check_signature_times(*s, 600, 300), "");   // 400 s in the future
  EXPECT_EQ(check_signature_times(*s, 800, 300), "");   // within the margin
}

TEST(DkimSignature, StripB) {
  EXPECT_EQ(strip_b_value("a=1; b= xy z ;bh=2"), "a=1; b=;bh=2");
  EXPECT_EQ(strip_b_value("bh=2; b=abc"), "bh=2; b=");
  EXPECT_EQ(strip_b_value("bh=2"), "bh=2");
}

TEST(DkimKeyRecord, Parses) {
  std::string why;
  auto k = parse_dkim_key_record("v=DKIM1; k=ed25519; h=sha256; t=y:s; p=dGVzdA==", &why);
  ASSERT_TRUE(k) << why;
  EXPECT_EQ(k->type, DkimKeyType::kEd25519);
  EXPECT_TRUE(k->testing);
  EXPECT_TRUE(k->strict);
  EXPECT_EQ(k->public_key, "test");
  auto revoked = parse_dkim_key_record("v=DKIM1; p=", &why);
  ASSERT_TRUE(revoked);
  EXPECT_TRUE(revoked->public_key.empty());
}

TEST(DkimKeyRecord, Errors) {
  for (const char* bad : {"k=rsa; v=DKIM1; p=dGVzdA==", "v=DKIM2; p=dGVzdA==", "k=dsa; p=dGVzdA==",
                          "s=http; p=dGVzdA==", "k=rsa", "p=!!!!", "v=DKIM1; p=a; p=b"}) {
    std::string why;
    EXPECT_FALSE(parse_dkim_key_record(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(DkimAuthResults, Renders) {
  DkimOutcome o;
  o.result = DkimResult::kPass;
  o.domain = "example.com";
  o.identity = "@example.com";
  o.selector = "s1";
  o.algorithm = "ed25519-sha256";
  o.b_prefix = "abc/+def";
  o.key_bits = 256;
  EXPECT_EQ(auth_results_dkim(o),
            "dkim=pass (256-bit key) header.d=example.com header.i=@example.com header.s=s1 "
            "header.a=ed25519-sha256 header.b=abc/+def");
  o.result = DkimResult::kFail;
  o.reason = "body hash (mismatch)";
  o.key_bits = 0;
  EXPECT_EQ(auth_results_dkim(o).substr(0, 40), "dkim=fail (body hash \\(mismatch\\)) heade");
}

}  // namespace
}  // namespace tegami::mailauth
