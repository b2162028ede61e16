#include "mail/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tegami::mail {
namespace {

struct PathCase {
  std::string input;
  PathKind kind;
  bool ok;
  std::string local;   // expected when ok
  std::string domain;  // expected when ok
  std::string flags;   // expected when ok: letters N S Q @ % ! L D (null, route, quoted, ...)
  std::string enhanced = "";  // expected when !ok
};

std::string flags_of(const Address& a) {
  std::string f;
  if (a.null_path) f += 'N';
  if (a.has_source_route) f += 'S';
  if (a.quoted_local) f += 'Q';
  if (a.local_has_at) f += '@';
  if (a.local_has_percent) f += '%';
  if (a.local_has_bang) f += '!';
  if (a.ip_literal) f += 'L';
  if (a.numeric_domain) f += 'D';
  return f;
}

constexpr auto R = PathKind::kReverse;
constexpr auto F = PathKind::kForward;

std::vector<PathCase> path_cases() {
  std::string local64(64, 'a');
  std::string label63(63, 'b');
  // 4 x 63 + 3 dots = 255 octets.
  std::string domain255 = label63 + "." + label63 + "." + label63 + "." + label63;
  std::string domain256 = domain255 + "c";
  return {
      {"<alice@example.test>", F, true, "alice", "example.test", ""},
      {"<Alice.Smith@Example.TEST>", F, true, "Alice.Smith", "example.test", ""},
      {"<alice@example.test.>", F, true, "alice", "example.test", ""},
      {"<alice@example.test..>", F, false, "", "", "", "5.1.3"},
      {"<>", R, true, "", "", "N"},
      {"<>", F, false, "", "", "", "5.1.3"},
      {"<Postmaster>", F, true, "Postmaster", "", ""},
      {"<postmaster>", F, true, "postmaster", "", ""},
      {"<postmaster>", R, false, "", "", "", "5.1.7"},
      {"<alice>", F, false, "", "", "", "5.1.3"},
      {"alice@example.test", F, false, "", "", "", "5.1.3"},
      {"<alice@example.test", R, false, "", "", "", "5.1.7"},
      {"<@a.example,@b.example:user@d.example>", F, true, "user", "d.example", "S"},
      {"<@a.example:user@d.example>", F, true, "user", "d.example", "S"},
      {"<@a.example,user@d.example>", F, false, "", "", "", "5.1.3"},
      {"<@:user@d.example>", F, false, "", "", "", "5.1.3"},
      {"<\"john doe\"@example.test>", F, true, "john doe", "example.test", "Q"},
      {"<\"a\\\"b\"@example.test>", F, true, "a\"b", "example.test", "Q"},
      {"<\"unterminated@example.test>", F, false, "", "", "", "5.1.3"},
      {"<user@[192.0.2.1]>", F, true, "user", "[192.0.2.1]", "L"},
      {"<user@[IPv6:2001:DB8::1]>", F, true, "user", "[ipv6:2001:db8::1]", "L"},
      {"<user@[IPv6:2001:db8:0:0:0:0:0:1]>", F, true, "user", "[ipv6:2001:db8:0:0:0:0:0:1]", "L"},
      {"<user@[IPv6:::ffff:192.0.2.1]>", F, true, "user", "[ipv6:::ffff:192.0.2.1]", "L"},
      {"<user@[IPv6:1:2:3:4:5:6:7]>", F, false, "", "", "", "5.1.3"},
      {"<user@[IPv6:1::2::3]>", F, false, "", "", "", "5.1.3"},
      {"<user@[256.0.0.1]>", F, false, "", "", "", "5.1.3"},
      {"<user@[1.2.3]>", F, false, "", "", "", "5.1.3"},
      {"<user@[x-tag:foo]>", F, false, "", "", "", "5.1.3"},
      {"<user@192.0.2.1>", F, true, "user", "192.0.2.1", "D"},
      {"<user@host.123>", F, true, "user", "host.123", "D"},
      {"<user@123host.example>", F, true, "user", "123host.example", ""},
      {"<a..b@example.test>", F, false, "", "", "", "5.1.3"},
      {"<.a@example.test>", F, false, "", "", "", "5.1.3"},
      {"<a.@example.test>", F, false, "", "", "", "5.1.3"},
      {"<a b@example.test>", F, false, "", "", "", "5.1.3"},
      {"<a@-example.test>", F, false, "", "", "", "5.1.3"},
      {"<a@example-.test>", F, false, "", "", "", "5.1.3"},
      {"<a@exa_mple.test>", F, false, "", "", "", "5.1.3"},
      {"<a@>", F, false, "", "", "", "5.1.3"},
      {"<@example.test>", F, false, "", "", "", "5.1.3"},
      {"<a@b@example.test>", R, false, "", "", "", "5.1.7"},
      {"<" + local64 + "@example.test>", F, true, local64, "example.test", ""},
      {"<" + local64 + "a@example.test>", F, false, "", "", "", "5.1.3"},
      {"<" + local64 + "a@example.test>", R, false, "", "", "", "5.1.7"},
      // A 255-octet domain cannot fit a 256-octet path: the path limit bites first.
      {"<a@" + domain255 + ">", F, false, "", "", "", "5.1.3"},
      {"<a@" + domain256 + ">", F, false, "", "", "", "5.1.3"},
      {"<a@" + label63 + "c.example>", F, false, "", "", "", "5.1.3"},
      // 256 octets of path are fine, 257 are not (RFC 5321 §4.5.3.1.3).
      {"<" + std::string(64, 'x') + "@" + std::string(63, 'd') + "." + std::string(63, 'e') + "." +
           std::string(61, 'f') + ">",
       F, true, std::string(64, 'x'),
       std::string(63, 'd') + "." + std::string(63, 'e') + "." + std::string(61, 'f'), ""},
      {"<" + std::string(64, 'x') + "@" + std::string(63, 'd') + "." + std::string(63, 'e') + "." +
           std::string(62, 'f') + ">",
       F, false, "", "", "", "5.1.3"},
      {"<user%other@example.test>", F, true, "user%other", "example.test", "%"},
      {"<other!user@example.test>", F, true, "other!user", "example.test", "!"},
      {"<\"a@b\"@example.test>", F, true, "a@b", "example.test", "Q@"},
      // RFC 6531 §3.3: UTF-8 is syntax here (parse_path_command decides
      // whether SMTPUTF8 allows it); domains come back as A-labels.
      {"<a@exa\xc3\xa9.test>", F, true, "a", "xn--exa-dma.test", ""},
      {"<j\xc3\xb6rg@B\xc3\xbc"
       "cher.EXAMPLE>",
       F, true, "j\xc3\xb6rg", "xn--bcher-kva.example", ""},
      {"<\"j\xc3\xb6 rg\"@example.test>", F, true, "j\xc3\xb6 rg", "example.test", "Q"},
      {"<a@xn--zz.test>", F, false, "", "", "", "5.1.3"},  // bad punycode
      {"<a@bad\xe2\x80\x8b"
       "domain.test>",
       F, false, "", "", "", "5.1.3"},                           // U+200B
      {"<a@M\xc3\x9cNCHEN.de>", F, false, "", "", "", "5.1.3"},  // non-ASCII upper case
      // Malformed UTF-8: overlong '/', lone continuation, surrogate, truncated,
      // over U+10FFFF; C1 control U+0085: 501 5.5.4.
      {"<a\xc0\xaf"
       "b@example.test>",
       F, false, "", "", "", "5.5.4"},
      {"<a\x80"
       "b@example.test>",
       R, false, "", "", "", "5.5.4"},
      {"<a\xed\xa0\x80"
       "b@example.test>",
       F, false, "", "", "", "5.5.4"},
      {"<a\xe3\x81@example.test>", F, false, "", "", "", "5.5.4"},
      {"<a\xf4\x90\x80\x80@example.test>", F, false, "", "", "", "5.5.4"},
      {"<a\xc2\x85"
       "b@example.test>",
       F, false, "", "", "", "5.5.4"},
  };
}

TEST(Address, ParsePathTable) {
  for (const auto& c : path_cases()) {
    auto r = parse_path(c.input, c.kind);
    ASSERT_EQ(r.has_value(), c.ok) << c.input;
    if (c.ok) {
      EXPECT_EQ(r->local, c.local) << c.input;
      EXPECT_EQ(r->domain, c.domain) << c.input;
      EXPECT_EQ(flags_of(*r), c.flags) << c.input;
    } else {
      EXPECT_EQ(r.error().smtp_code, 501) << c.input;
      EXPECT_EQ(r.error().enhanced, c.enhanced) << c.input;
      EXPECT_FALSE(r.error().temporary) << c.input;
    }
  }
}

TEST(Address, LowerCaseAndRoundTrip) {
  auto a = parse_path("<Alice.Smith@Example.TEST.>", F);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->local, "Alice.Smith");
  EXPECT_EQ(a->local_lower, "alice.smith");
  EXPECT_EQ(a->to_string(), "Alice.Smith@example.test");
  EXPECT_EQ(a->to_path(), "<Alice.Smith@example.test>");

  auto q = parse_path("<\"John \\\"Q\\\" Doe\"@example.test>", F);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->local, "John \"Q\" Doe");
  EXPECT_EQ(q->to_string(), "\"John \\\"Q\\\" Doe\"@example.test");
  // A needlessly quoted local part comes out plain (RFC 5321 §4.1.2 SHOULD).
  auto plain = parse_path("<\"alice\"@example.test>", F);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->to_string(), "alice@example.test");
  EXPECT_TRUE(plain->quoted_local);

  auto null = parse_path("<>", R);
  ASSERT_TRUE(null);
  EXPECT_EQ(null->to_path(), "<>");
  auto route = parse_path("<@A.example,@B.example:u@D.example>", F);
  ASSERT_TRUE(route);
  EXPECT_EQ(route->source_route, "@a.example,@b.example");
  EXPECT_EQ(route->to_path(), "<u@d.example>");  // the route is dropped
}

TEST(Address, DomainEqual) {
  EXPECT_TRUE(domain_equal("Example.TEST", "example.test"));
  EXPECT_TRUE(domain_equal("example.test.", "EXAMPLE.test"));
  EXPECT_FALSE(domain_equal("example.test..", "example.test"));
  EXPECT_FALSE(domain_equal("example.test", "example.tes"));
}

// CHECKLIST "Open relay": nmap smtp-open-relay and the Postfix resolve tests.
// Each must be refusable: either the parser rejects it, or is_relay_hack().
TEST(Address, OpenRelayVectorsAreClassified) {
  const std::string ip = "[192.0.2.25]";
  const std::string srv = "mx.example.test";
  const std::string dom = "victim.example.net";
  struct Vector {
    std::string path;
    bool parses;  // false: 501 5.1.3 from the parser
  };
  const std::vector<Vector> vectors = {
      {"<relaytest%" + dom + "@" + ip + ">", true},
      {"<relaytest%" + dom + "@" + srv + ">", true},
      {"<\"relaytest@" + dom + "\">", false},
      {"<\"relaytest%" + dom + "\">", false},
      {"<\"relaytest@" + dom + "\"@" + ip + ">", true},
      {"<\"relaytest@" + dom + "\"@" + srv + ">", true},
      {"<relaytest@" + dom + "@" + ip + ">", false},
      {"<relaytest@" + dom + "@" + srv + ">", false},
      {"<@" + ip + ":relaytest@" + dom + ">", false},  // a literal is not allowed in a route
      {"<@" + srv + ":relaytest@" + dom + ">", true},
      {"<" + dom + "!relaytest>", false},
      {"<" + dom + "!relaytest@" + ip + ">", true},
      {"<" + dom + "!relaytest@" + srv + ">", true},
      {"<relaytest@" + ip + ">", true},
      {"<relaytest@192.0.2.25>", true},
      {"<\"relaytest!" + dom + "\"@" + srv + ">", true},
      {"<\"relaytest%" + dom + "\"@" + srv + ">", true},
      {"<@" + srv + ",@other.example:relaytest@" + dom + ">", true},
  };
  for (const auto& v : vectors) {
    auto a = parse_path(v.path, F);
    EXPECT_EQ(a.has_value(), v.parses) << v.path;
    if (a) {
      EXPECT_TRUE(is_relay_hack(*a)) << v.path;
    } else {
      EXPECT_EQ(a.error().enhanced, "5.1.3") << v.path;
    }
  }
  // ... while the senders nmap pairs them with parse, and are not hacks.
  for (std::string from : {"<>", "<alice@example.test>"}) {
    auto a = parse_path(from, R);
    ASSERT_TRUE(a) << from;
    EXPECT_FALSE(is_relay_hack(*a)) << from;
  }
  // MAIL FROM:<@srv> and <@[ip]> (nmap's other senders) are syntax errors.
  EXPECT_FALSE(parse_path("<@" + srv + ">", R));
  EXPECT_FALSE(parse_path("<@" + ip + ">", R));
  // Plain addresses are not hacks, whatever their case or trailing dot.
  for (std::string ok :
       {"<relaytest@VICTIM.example.NET.>", "<a.b-c+d@x-y.example>", "<Postmaster>"}) {
    auto a = parse_path(ok, F);
    ASSERT_TRUE(a) << ok;
    EXPECT_FALSE(is_relay_hack(*a)) << ok;
  }
}

struct CommandCase {
  std::string args;
  PathKind kind;
  bool allow_params;
  int code;  // 0: ok
  std::string enhanced;
  std::optional<std::uint64_t> size;
  BodyType body;
};

TEST(Address, Utf8Fields) {
  // SMTPUTF8 on RCPT comes from the transaction: parse_path_command's flag.
  auto r = parse_path_command(
      "<J\xc3\xb6rg@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88>", F, true, true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->address.utf8_local);
  EXPECT_TRUE(r->address.utf8_domain);
  EXPECT_EQ(r->address.domain, "xn--r8jz45g.xn--zckzah");
  EXPECT_EQ(r->address.local, "J\xc3\xb6rg");
  EXPECT_EQ(r->address.local_lower, "j\xc3\xb6rg");
  EXPECT_EQ(r->address.to_string(), "J\xc3\xb6rg@xn--r8jz45g.xn--zckzah");
  // A U-label domain and its A-label are the same domain; an ASCII local
  // part on a U-label domain needs SMTPUTF8 too (as sent it is not ASCII).
  auto u = parse_path("<user@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88>", F);
  auto a = parse_path("<user@XN--R8JZ45G.xn--zckzah>", F);
  ASSERT_TRUE(u && a);
  EXPECT_EQ(u->domain, a->domain);
  EXPECT_TRUE(u->utf8());
  EXPECT_FALSE(a->utf8());
  EXPECT_FALSE(parse_path_command("<user@\xe4\xbe\x8b\xe3\x81\x88.test>", F, true, false));
  // NFC: "e" + U+0301 and U+00E9 give one local_lower.
  auto d = parse_path("<caf\x65\xcc\x81@example.test>", F);
  auto c = parse_path("<caf\xc3\xa9@example.test>", F);
  ASSERT_TRUE(d && c);
  EXPECT_EQ(d->local_lower, c->local_lower);
  EXPECT_NE(d->local, c->local);  // the local part as sent is kept for relaying
  // Length limits are octets (RFC 6531 §3.3 leaves RFC 5321's limits alone):
  // 22 three-octet characters are 66 octets, over 64.
  std::string kana;
  for (int i = 0; i < 22; ++i) kana += "\xe3\x81\x82";
  EXPECT_FALSE(parse_path("<" + kana + "@example.test>", F));
  EXPECT_TRUE(parse_path("<" + kana.substr(3) + "@example.test>", F));
}

TEST(Address, PathCommandTable) {
  const auto k7 = BodyType::k7Bit;
  const auto k8 = BodyType::k8BitMime;
  const std::vector<CommandCase> cases = {
      {"<a@example.test>", R, true, 0, "", std::nullopt, k7},
      {" <a@example.test>", R, true, 0, "", std::nullopt, k7},
      {"<a@example.test> ", R, true, 0, "", std::nullopt, k7},
      {"<> SIZE=1000", R, true, 0, "", 1000, k7},
      {"<a@example.test> size=0 body=8bitmime", R, true, 0, "", 0, k8},
      {"<a@example.test>  BODY=7BIT  SIZE=5", R, true, 0, "", 5, k7},
      {"<a@example.test> SIZE=99999999999999999999", R, true, 0, "", UINT64_MAX, k7},
      {"<a@example.test> SIZE=123456789012345678901", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> SIZE=", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> SIZE=12a", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> SIZE=1 SIZE=2", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> BODY=BINARYMIME", R, true, 0, "", std::nullopt, BodyType::kBinaryMime},
      {"<a@example.test> body=binarymime", R, true, 0, "", std::nullopt, BodyType::kBinaryMime},
      {"<a@example.test> BODY=BINARYMIME BODY=7BIT", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> BODY=9BIT", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> SMTPUTF8", R, true, 0, "", std::nullopt, k7},
      {"<a@example.test> smtputf8 SIZE=5", R, true, 0, "", 5, k7},
      {"<a@example.test> SMTPUTF8=1", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> SMTPUTF8 SMTPUTF8", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> SMTPUTF8", R, false, 555, "5.5.4", std::nullopt, k7},
      {"<b@example.test> SMTPUTF8", F, true, 555, "5.5.4", std::nullopt, k7},
      // RFC 6531 §3.5: a non-ASCII path without SMTPUTF8 is 553 5.6.7.
      {"<j\xc3\xb6rg@example.test>", R, true, 553, "5.6.7", std::nullopt, k7},
      {"<jorg@\xe4\xbe\x8b\xe3\x81\x88.test>", R, true, 553, "5.6.7", std::nullopt, k7},
      {"<j\xc3\xb6rg@example.test>", F, true, 553, "5.6.7", std::nullopt, k7},
      {"<j\xc3\xb6rg@example.test> SMTPUTF8", R, true, 0, "", std::nullopt, k7},
      {"<j\xc3\x28@example.test> SMTPUTF8", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> RET=HDRS", R, true, 0, "", std::nullopt, k7},
      {"<a@example.test> RET=HDRS", R, false, 555, "5.5.4", std::nullopt, k7},
      {"<a@example.test> NOTIFY=NEVER", R, true, 555, "5.5.4", std::nullopt, k7},
      {"<a@example.test> -X=1", R, true, 501, "5.5.4", std::nullopt, k7},
      {"<a@example.test> SIZE=10", R, false, 555, "5.5.4", std::nullopt, k7},
      {"<b@example.test> NOTIFY=NEVER", F, true, 0, "", std::nullopt, k7},
      {"<b@example.test> NOTIFY=NEVER", F, false, 555, "5.5.4", std::nullopt, k7},
      {"<b@example.test> RET=FULL", F, true, 555, "5.5.4", std::nullopt, k7},
      {"<b@example.test> ENVID=x", F, true, 555, "5.5.4", std::nullopt, k7},
      {"<a@example.test>SIZE=10", R, true, 501, "5.1.7", std::nullopt, k7},
      {"a@example.test", R, true, 501, "5.1.7", std::nullopt, k7},
      {"", F, true, 501, "5.1.3", std::nullopt, k7},
      {"<\"a>b\"@example.test> SIZE=1", R, true, 0, "", 1, k7},
      {"<a@example.test", F, true, 501, "5.1.3", std::nullopt, k7},
  };
  for (const auto& c : cases) {
    auto r = parse_path_command(c.args, c.kind, c.allow_params);
    if (c.code == 0) {
      if (c.args.find("SMTPUTF8") != std::string::npos ||
          c.args.find("smtputf8") != std::string::npos) {
        EXPECT_TRUE(r && r->params.smtputf8) << c.args;
      }
      ASSERT_TRUE(r) << c.args << ": " << r.error().message;
      EXPECT_EQ(r->params.size, c.size) << c.args;
      EXPECT_EQ(r->params.body, c.body) << c.args;
    } else {
      ASSERT_FALSE(r) << c.args;
      EXPECT_EQ(r.error().smtp_code, c.code) << c.args;
      EXPECT_EQ(r.error().enhanced, c.enhanced) << c.args;
    }
  }
}

// RFC 3461 §4: each DSN parameter parsed into the PathCommand, decoded.
TEST(Address, DsnParametersOnMail) {
  auto r = parse_path_command("<a@example.test> RET=FULL ENVID=Q+2B+3D1", R, true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->params.ret, DsnRet::kFull);
  ASSERT_TRUE(r->params.envid);
  EXPECT_EQ(*r->params.envid, "Q+=1");
  auto none = parse_path_command("<a@example.test> SIZE=10", R, true);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->params.ret, DsnRet::kUnspecified);
  EXPECT_FALSE(none->params.envid);
  struct Bad {
    std::string args;
    int code;
  };
  for (const Bad& c : std::vector<Bad>{
           {"<a@example.test> RET=FULL RET=FULL", 501},
           {"<a@example.test> RET=full ret=HDRS", 501},
           {"<a@example.test> RET=", 501},
           {"<a@example.test> RET", 501},
           {"<a@example.test> RET=BODY", 501},
           {"<a@example.test> ENVID", 501},
           {"<a@example.test> ENVID=a ENVID=a", 501},
           {"<a@example.test> ENVID=a+", 501},
           {"<a@example.test> ENVID=a+4", 501},
           {"<a@example.test> ENVID=a+GG", 501},
           {"<a@example.test> ENVID=+0D+0A", 501},  // decodes to a control character
           {"<a@example.test> ENVID=" + std::string(101, 'x'), 501},
           {"<a@example.test> NOTIFY=SUCCESS", 555},
           {"<a@example.test> ORCPT=rfc822;a@b", 555},
       }) {
    auto p = parse_path_command(c.args, R, true);
    ASSERT_FALSE(p) << c.args;
    EXPECT_EQ(p.error().smtp_code, c.code) << c.args;
    EXPECT_EQ(p.error().enhanced, "5.5.4") << c.args;
  }
  EXPECT_TRUE(parse_path_command("<a@example.test> ENVID=" + std::string(100, 'x'), R, true));
}

TEST(Address, DsnParametersOnRcpt) {
  auto r = parse_path_command(
      "<b@example.test> NOTIFY=success,Delay ORCPT=RFC822;B+2Bx@example.test", F, true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rcpt.notify.bits, DsnNotify::kSuccess | DsnNotify::kDelay);
  EXPECT_TRUE(r->rcpt.notify.success());
  EXPECT_FALSE(r->rcpt.notify.failure());
  EXPECT_TRUE(r->rcpt.notify.delay());
  EXPECT_EQ(r->rcpt.orcpt.type, "rfc822");
  EXPECT_EQ(r->rcpt.orcpt.address, "B+x@example.test");
  auto plain = parse_path_command("<b@example.test>", F, true);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->rcpt.notify.given());
  EXPECT_TRUE(plain->rcpt.notify.failure());  // the default: failures and delays
  EXPECT_TRUE(plain->rcpt.notify.delay());
  EXPECT_FALSE(plain->rcpt.notify.success());
  EXPECT_FALSE(plain->rcpt.orcpt.given());
  auto never = parse_path_command("<b@example.test> NOTIFY=never", F, true);
  ASSERT_TRUE(never);
  EXPECT_FALSE(never->rcpt.notify.failure());
  EXPECT_FALSE(never->rcpt.notify.delay());
  EXPECT_FALSE(never->rcpt.notify.success());
  for (const std::string& bad : {
           std::string("<b@example.test> NOTIFY=NEVER,SUCCESS"),
           std::string("<b@example.test> NOTIFY=FAILURE,never"),
           std::string("<b@example.test> NOTIFY="),
           std::string("<b@example.test> NOTIFY"),
           std::string("<b@example.test> NOTIFY=SUCCESS,"),
           std::string("<b@example.test> NOTIFY=,SUCCESS"),
           std::string("<b@example.test> NOTIFY=SOMETIMES"),
           std::string("<b@example.test> NOTIFY=SUCCESS NOTIFY=DELAY"),
           std::string("<b@example.test> ORCPT=b@example.test"),
           std::string("<b@example.test> ORCPT=;b@example.test"),
           std::string("<b@example.test> ORCPT=rfc822;"),
           std::string("<b@example.test> ORCPT=rf(c;b@example.test"),
           std::string("<b@example.test> ORCPT=rfc822;b+2"),
           std::string("<b@example.test> ORCPT=rfc822;a+20b"),  // decodes to a space
           std::string("<b@example.test> ORCPT=rfc822;a ORCPT=rfc822;a"),
           std::string("<b@example.test> ORCPT=rfc822;") + std::string(494, 'x'),
       }) {
    auto p = parse_path_command(bad, F, true);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().smtp_code, 501) << bad;
    EXPECT_EQ(p.error().enhanced, "5.5.4") << bad;
  }
  // §4.2: the whole ORCPT value may be 500 characters.
  EXPECT_TRUE(
      parse_path_command("<b@example.test> ORCPT=rfc822;" + std::string(493, 'x'), F, true));
}

}  // namespace
}  // namespace tegami::mail
