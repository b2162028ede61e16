// SPF evaluator, parser and macro tests the RFC 7208 suite does not pin
// down: the §7.4 macro examples, the exact counting of the DNS-term and void
// lookup limits, bounds on hostile records, and the header renderings.
#include "mailauth/spf.hpp"

#include <gtest/gtest.h>

#include "fake_zone.hpp"

namespace tegami::mailauth {
namespace {

using spftest::FakeZone;

IpAddress ip(const char* s) {
  auto a = IpAddress::parse(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(IpAddress{});
}

SpfOutcome check(const FakeZone& zone, const char* client, const char* from,
                 std::vector<DnsQuestion>* asked = nullptr) {
  SpfCheck c(SpfQuery::mail_from(ip(client), from, "mail.example.org", "mx.example.net"));
  return zone.run(c, asked);
}

// ---- macros (RFC 7208 §7.4) ----

struct MacroCase {
  const char* macro;
  const char* expansion;
};

TEST(SpfMacro, Rfc7208Section74Ipv4) {
  MacroValues v;
  v.sender = "strong-bad@email.example.com";
  v.local_part = "strong-bad";
  v.sender_domain = "email.example.com";
  v.domain = "email.example.com";
  v.ip = ip("192.0.2.3");
  v.helo = "mx.example.org";
  const MacroCase cases[] = {
      {"%{s}", "strong-bad@email.example.com"},
      {"%{o}", "email.example.com"},
      {"%{d}", "email.example.com"},
      {"%{d4}", "email.example.com"},
      {"%{d3}", "email.example.com"},
      {"%{d2}", "example.com"},
      {"%{d1}", "com"},
      {"%{dr}", "com.example.email"},
      {"%{d2r}", "example.email"},
      {"%{l}", "strong-bad"},
      {"%{l-}", "strong.bad"},
      {"%{lr}", "strong-bad"},
      {"%{lr-}", "bad.strong"},
      {"%{l1r-}", "strong"},
      {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
      {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
      {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
      {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
      {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
      {"%%%_%-", "% %20"},
      {"%{S}", "strong-bad%40email.example.com"},          // upper case: URL-escaped (§7.3)
      {"%{d999999999999999999999}", "email.example.com"},  // clamped, not overflowed
  };
  for (const auto& c : cases) {
    ASSERT_TRUE(valid_macro_string(c.macro, MacroMode::kDomainSpec)) << c.macro;
    EXPECT_EQ(expand_macros(c.macro, v, MacroMode::kDomainSpec).value_or("<error>"), c.expansion)
        << c.macro;
  }
}

TEST(SpfMacro, Rfc7208Section74Ipv6AndExplanationLetters) {
  MacroValues v;
  v.sender = "strong-bad@email.example.com";
  v.domain = "email.example.com";
  v.ip = ip("2001:db8::cb01");
  v.receiver = "mx.example.net";
  v.timestamp = 1700000000;
  EXPECT_EQ(expand_macros("%{ir}.%{v}._spf.%{d2}", v, MacroMode::kDomainSpec).value_or(""),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
  EXPECT_EQ(expand_macros("%{c} via %{r} at %{t}", v, MacroMode::kExplain).value_or(""),
            "2001:db8::cb01 via mx.example.net at 1700000000");
  // c, r and t are explanation-only; unknown letters, bad escapes, a zero
  // digit transformer and spaces are syntax errors in a domain-spec.
  for (const char* bad : {"%{c}.x.com", "%{r}.x.com", "%{t}.x.com", "%{a}.x.com", "%(ir).x.com",
                          "foo%.x.com", "%{d0}.x.com", "%{d", "a b.com", "%"})
    EXPECT_FALSE(valid_macro_string(bad, MacroMode::kDomainSpec)) << bad;
  EXPECT_TRUE(valid_macro_string("%{c} is %{i} at %{t}", MacroMode::kExplain));
}

TEST(SpfMacro, DomainEnd) {
  for (const char* ok : {"example.com", "example.com.", "%{d}", "x.%{d2}", "foo.xn--zckzah",
                         "foo:bar/baz.example.com", "a.b-c", "_spf.%{d}", "x.%%"})
    EXPECT_TRUE(valid_domain_spec(ok)) << ok;
  for (const char* bad : {"museum", "museum.", "abc.123", "example.-com", "example.com:8080",
                          "%{d}com", "", "x.com-", "111.222.33.44"})
    EXPECT_FALSE(valid_domain_spec(bad)) << bad;
}

TEST(SpfMacro, ExpansionIsBounded) {
  MacroValues v;
  v.sender = std::string(SpfCheck::kMaxInput, 'a');
  std::string spec;
  for (int i = 0; i < 10; ++i) spec += "%{s}";
  EXPECT_FALSE(expand_macros(spec, v, MacroMode::kDomainSpec).has_value());
  EXPECT_EQ(query_name(std::string(300, 'a') + ".example.com").size(), 11u)
      << "a label longer than the limit is dropped whole";
}

// ---- parser ----

TEST(SpfRecordParse, MechanismsAndDualCidr) {
  auto p = parse_spf_record(
      "v=spf1 a/24//64 mx:mx.%{d}/28 ~ip4:192.0.2.0/24 ?ip6:2001:db8::/32 -ptr "
      "+exists:%{ir}.bl.example include:_spf.example.net a//0 unknown=%{d} redirect=x.example "
      "exp=explain.%{d} -all");
  ASSERT_TRUE(p.record.has_value()) << p.error;
  const auto& m = p.record->mechanisms;
  ASSERT_EQ(m.size(), 9u);
  EXPECT_EQ(m[0].kind, MechanismKind::kA);
  EXPECT_EQ(m[0].cidr4, 24);
  EXPECT_EQ(m[0].cidr6, 64);
  EXPECT_EQ(m[1].domain_spec, "mx.%{d}");
  EXPECT_EQ(m[1].cidr4, 28);
  EXPECT_EQ(m[2].qualifier, Qualifier::kSoftFail);
  EXPECT_EQ(m[2].network.to_string(), "192.0.2.0");
  EXPECT_EQ(m[3].cidr6, 32);
  EXPECT_EQ(m[4].qualifier, Qualifier::kFail);
  EXPECT_EQ(m[6].kind, MechanismKind::kInclude);
  EXPECT_EQ(m[7].cidr4, 32);
  EXPECT_EQ(m[7].cidr6, 0);
  EXPECT_EQ(m[8].text, "-all");
  EXPECT_EQ(p.record->redirect.value_or(""), "x.example");
  EXPECT_EQ(p.record->explanation.value_or(""), "explain.%{d}");
}

TEST(SpfRecordParse, SyntaxErrors) {
  for (const char* bad :
       {"v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/24/64", "v=spf1 ip4:1.2.3.4/032",
        "v=spf1 ip4:01.2.3.4", "v=spf1 ip4:1.2.3", "v=spf1 ip6:::1//64", "v=spf1 all/8",
        "v=spf1 include:", "v=spf1 exists", "v=spf1 ptr/0", "v=spf1 moo", "v=spf1 1x=y",
        "v=spf1 =all", "v=spf1 redirect=a.com redirect=b.com", "v=spf1 exp=a.com exp=b.com",
        "v=spf1 foo=%x", "v=spf1 a:x.com\r-all",
        "v=spf1 \x80"
        "a"})
    EXPECT_FALSE(parse_spf_record(bad).record.has_value()) << bad;
  EXPECT_FALSE(parse_spf_record("v=spf1 " + std::string(kMaxRecordLength, 'a')).record);
  EXPECT_TRUE(parse_spf_record("v=spf1").record.has_value());
  EXPECT_TRUE(parse_spf_record("V=SPF1   -all  ").record.has_value());
  EXPECT_FALSE(is_spf_record("v=spf10 -all"));
  EXPECT_FALSE(is_spf_record("v=spf"));
}

// ---- evaluation ----

TEST(SpfCheckTest, TxtStringsAreJoinedAndMappedClientIsIpv4) {
  FakeZone z;
  z.add("example.com", "TXT", nlohmann::json::array({"v=spf1 ip4:192.0.2.0/24", " -all"}));
  z.add("example.com", "TXT", "some other record");
  EXPECT_EQ(check(z, "::ffff:192.0.2.77", "a@example.com").result, SpfResult::kPass);
  auto out = check(z, "198.51.100.1", "a@example.com");
  EXPECT_EQ(out.result, SpfResult::kFail);
  EXPECT_EQ(out.mechanism, "-all");
  EXPECT_EQ(out.domain, "example.com");
}

// Ten terms that query DNS are allowed, the eleventh is permerror, wherever
// they are (here: spread over an include).
TEST(SpfCheckTest, DnsTermLimitCountsAcrossIncludesAndRedirects) {
  FakeZone z;
  z.add("nine.example", "TXT", "v=spf1 a a a a include:inc.example ip4:192.0.2.1 -all");
  z.add("ten.example", "TXT", "v=spf1 a a a a a include:inc.example ip4:192.0.2.1 -all");
  z.add("eleven.example", "TXT", "v=spf1 a a a a a a include:inc.example ip4:192.0.2.1 -all");
  z.add("inc.example", "TXT", "v=spf1 a a a a ?all");
  for (const char* n : {"nine.example", "ten.example", "eleven.example", "inc.example"})
    z.add(n, "A", "10.0.0.1");
  auto nine = check(z, "192.0.2.1", "x@nine.example");
  EXPECT_EQ(nine.result, SpfResult::kPass);
  EXPECT_EQ(nine.dns_mechanisms, 9);  // 4 a + include + 4 a inside
  auto ten = check(z, "192.0.2.1", "x@ten.example");
  EXPECT_EQ(ten.result, SpfResult::kPass);  // exactly 10: allowed
  EXPECT_EQ(ten.dns_mechanisms, 10);
  auto over = check(z, "192.0.2.1", "x@eleven.example");
  EXPECT_EQ(over.result, SpfResult::kPermError);
  EXPECT_EQ(over.dns_mechanisms, 11);
  // redirect counts too: a chain of redirects ends in permerror, not a hang.
  z.add("r.example", "TXT", "v=spf1 redirect=r.example");
  auto loop = check(z, "192.0.2.1", "x@r.example");
  EXPECT_EQ(loop.result, SpfResult::kPermError);
  EXPECT_LE(loop.questions, 12);
  // ip4 and all never count.
  z.add("cheap.example", "TXT",
        "v=spf1 ip4:10.0.0.1 ip4:10.0.0.2 ip4:10.0.0.3 ip4:10.0.0.4 ip4:10.0.0.5 ip4:10.0.0.6 "
        "ip4:10.0.0.7 ip4:10.0.0.8 ip4:10.0.0.9 ip4:10.0.0.10 ip4:10.0.0.11 ip6:::1 all");
  auto cheap = check(z, "192.0.2.1", "x@cheap.example");
  EXPECT_EQ(cheap.result, SpfResult::kPass);
  EXPECT_EQ(cheap.dns_mechanisms, 0);
}

TEST(SpfCheckTest, MxTermCountsOnceAndItsNamesAreLimited) {
  FakeZone z;
  z.add("ok.example", "TXT", "v=spf1 mx -all");
  z.add("big.example", "TXT", "v=spf1 mx -all");
  for (int i = 0; i < 11; ++i) {
    std::string host = "mx" + std::to_string(i) + ".example";
    z.add(host, "A", "10.0.0." + std::to_string(i + 1));
    if (i < 10) z.add("ok.example", "MX", nlohmann::json::array({i, host}));
    z.add("big.example", "MX", nlohmann::json::array({i, host}));
  }
  std::vector<DnsQuestion> asked;
  auto ok = check(z, "10.0.0.10", "x@ok.example", &asked);
  EXPECT_EQ(ok.result, SpfResult::kPass);
  EXPECT_EQ(ok.dns_mechanisms, 1);
  EXPECT_EQ(asked.size(), 12u);  // TXT, MX, 10 A
  EXPECT_EQ(check(z, "10.0.0.1", "x@big.example").result, SpfResult::kPermError);
}

TEST(SpfCheckTest, VoidLookups) {
  FakeZone z;
  z.add("two.example", "TXT", "v=spf1 a:nx1.example exists:nx2.example ?all");
  z.add("three.example", "TXT", "v=spf1 a:nx1.example exists:nx2.example mx:nx3.example ?all");
  z.add("nodata.example", "TXT", "v=spf1 a:txtonly.example a:txtonly.example a:txtonly.example");
  z.add("txtonly.example", "TXT", "hello");
  z.add("exp.example", "TXT", "v=spf1 a:nx1.example a:nx2.example exp=nx3.example -all");
  auto two = check(z, "192.0.2.1", "x@two.example");
  EXPECT_EQ(two.result, SpfResult::kNeutral);
  EXPECT_EQ(two.void_lookups, 2);
  EXPECT_EQ(check(z, "192.0.2.1", "x@three.example").result, SpfResult::kPermError);
  // NODATA answers are void too, not only NXDOMAIN.
  EXPECT_EQ(check(z, "192.0.2.1", "x@nodata.example").result, SpfResult::kPermError);
  // The exp= lookup counts against no limit (§6.2, suite "exp-void").
  auto e = check(z, "192.0.2.1", "x@exp.example");
  EXPECT_EQ(e.result, SpfResult::kFail);
  EXPECT_EQ(e.explanation, "");
}

TEST(SpfCheckTest, TemporaryErrorsAndPtrErrors) {
  FakeZone z;
  z.add("t.example", "TXT", "v=spf1 a:down.example -all");
  z.timeout("down.example");
  EXPECT_EQ(check(z, "192.0.2.1", "x@t.example").result, SpfResult::kTempError);
  // A failing PTR lookup makes ptr not match (§5.5), it is no temperror.
  z.add("p.example", "TXT", "v=spf1 ptr ?all");
  z.timeout("1.2.0.192.in-addr.arpa");
  EXPECT_EQ(check(z, "192.0.2.1", "x@p.example").result, SpfResult::kNeutral);
  z.timeout("gone.example");
  EXPECT_EQ(check(z, "192.0.2.1", "x@gone.example").result, SpfResult::kTempError);
  EXPECT_EQ(check(z, "192.0.2.1", "x@nowhere.example").result, SpfResult::kNone);
}

TEST(SpfCheckTest, ExplanationWithMacros) {
  FakeZone z;
  z.add("e.example", "TXT", "v=spf1 -all exp=why.%{d}");
  z.add("why.e.example", "TXT", "%{c} may not send for %{o} (seen by %{r})");
  auto out = check(z, "2001:db8::1", "x@e.example");
  EXPECT_EQ(out.result, SpfResult::kFail);
  EXPECT_EQ(out.explanation, "2001:db8::1 may not send for e.example (seen by mx.example.net)");
  // Included records' exp= is never used (§6.2), and softfail has none.
  z.add("i.example", "TXT", "v=spf1 include:e.example ~all exp=why.e.example");
  auto soft = check(z, "2001:db8::1", "x@i.example");
  EXPECT_EQ(soft.result, SpfResult::kSoftFail);
  EXPECT_EQ(soft.explanation, "");
}

TEST(SpfCheckTest, PMacroAndPtrValidation) {
  FakeZone z;
  z.add("d.example", "TXT", "v=spf1 ptr:d.example exists:%{p}.ok.example -all");
  z.add("1.2.0.192.in-addr.arpa", "PTR", "liar.d.example");
  z.add("1.2.0.192.in-addr.arpa", "PTR", "host.other.example");
  z.add("liar.d.example", "A", "192.0.2.99");  // does not validate
  z.add("host.other.example", "A", "192.0.2.1");
  z.add("host.other.example.ok.example", "A", "127.0.0.2");
  auto out = check(z, "192.0.2.1", "x@d.example");
  EXPECT_EQ(out.result, SpfResult::kPass);
  EXPECT_EQ(out.mechanism, "exists:%{p}.ok.example");
}

TEST(SpfCheckTest, IdentitiesAndInitialProcessing) {
  auto q = SpfQuery::mail_from(ip("192.0.2.1"), "", "helo.example", "us.example");
  EXPECT_EQ(q.domain, "helo.example");
  EXPECT_EQ(q.sender, "postmaster@helo.example");
  q = SpfQuery::mail_from(ip("192.0.2.1"), "@example.com", "h", "us");
  EXPECT_EQ(q.sender, "postmaster@example.com");
  q = SpfQuery::for_helo(ip("192.0.2.1"), "helo.example", "us");
  EXPECT_TRUE(q.helo_identity);
  EXPECT_EQ(q.domain, "helo.example");
  FakeZone z;  // nothing is asked for a name that cannot be a domain
  for (const char* from : {"a@[192.0.2.1]", "a@localhost", "a@x..example", "a@"}) {
    std::vector<DnsQuestion> asked;
    EXPECT_EQ(check(z, "192.0.2.1", from, &asked).result, SpfResult::kNone) << from;
    EXPECT_TRUE(asked.empty()) << from;
  }
}

TEST(SpfCheckTest, HostileIncludeFanOutIsBounded) {
  // Every term queries, every answer is huge: the check still ends quickly
  // within the question budget.
  FakeZone z;
  std::string rec = "v=spf1";
  for (int i = 0; i < 20; ++i) rec += " mx:m" + std::to_string(i) + ".example";
  z.add("fan.example", "TXT", rec);
  for (int i = 0; i < 20; ++i)
    for (int j = 0; j < 10; ++j)
      z.add("m" + std::to_string(i) + ".example", "MX",
            nlohmann::json::array({j, "h" + std::to_string(j) + ".example"}));
  std::vector<DnsQuestion> asked;
  auto out = check(z, "192.0.2.1", "x@fan.example", &asked);
  EXPECT_EQ(out.result, SpfResult::kPermError);
  EXPECT_LE(asked.size(), 1u + 10u * 11u);
}

TEST(SpfCheckTest, StepAfterOutcomeAndStrayFeed) {
  FakeZone z;
  z.add("s.example", "TXT", "v=spf1 +all");
  SpfCheck c(SpfQuery::mail_from(ip("192.0.2.1"), "x@s.example", "h.example", "us"));
  c.feed(DnsAnswer{});  // nothing asked yet: ignored
  auto out = z.run(c);
  EXPECT_EQ(out.result, SpfResult::kPass);
  EXPECT_TRUE(std::holds_alternative<SpfOutcome>(c.step()));
}

// ---- headers ----

TEST(SpfHeaders, AuthenticationResultsAndReceivedSpf) {
  auto q = SpfQuery::mail_from(ip("192.0.2.1"), "user@example.com", "mail.example.com",
                               "mx.example.net");
  SpfOutcome o;
  o.result = SpfResult::kPass;
  o.mechanism = "ip4:192.0.2.0/24";
  EXPECT_EQ(auth_results_spf(q, o),
            "spf=pass (domain of user@example.com designates 192.0.2.1 as permitted sender) "
            "smtp.mailfrom=user@example.com");
  EXPECT_EQ(received_spf(q, o),
            "pass (mx.example.net: domain of user@example.com designates 192.0.2.1 as permitted "
            "sender) client-ip=192.0.2.1; envelope-from=\"user@example.com\"; "
            "helo=mail.example.com; receiver=mx.example.net; identity=mailfrom; "
            "mechanism=\"ip4:192.0.2.0/24\";");
  auto h = SpfQuery::for_helo(ip("2001:db8::5"), "mail.example.com", "mx.example.net");
  o.result = SpfResult::kPermError;
  o.mechanism.clear();
  o.problem = "bad (record)\r\n";
  EXPECT_EQ(auth_results_spf(h, o),
            "spf=permerror (permanent error in processing during lookup of mail.example.com: "
            "bad \\(record\\)?"
            "?) smtp.helo=mail.example.com");
  std::string r = received_spf(h, o);
  EXPECT_NE(r.find("client-ip=\"2001:db8::5\""), std::string::npos) << r;
  EXPECT_NE(r.find("problem=\"bad (record)?"
                   "?\""),
            std::string::npos)
      << r;
  // A hostile sender cannot close the comment or add a property.
  auto evil = SpfQuery::mail_from(ip("192.0.2.1"), "a) x=\"y\"; z@example.com", "h.example", "");
  std::string ar = auth_results_spf(evil, o);
  EXPECT_NE(ar.find("a\\) x=\"y\"; z@example.com"), std::string::npos) << ar;
  EXPECT_NE(ar.find("smtp.mailfrom=\"a) x=\\\"y\\\"; z@example.com\""), std::string::npos) << ar;
}

}  // namespace
}  // namespace tegami::mailauth
