// Header splitting and unfolding with CRLF, LF and bare-CR line endings,
// 8-bit bytes, mbox envelope lines, missing blank lines and garbage.
#include "mail/header.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mail/header_address.hpp"

namespace tegami::mail {
namespace {

std::string with_endings(std::string lf_text, const std::string& eol) {
  std::string out;
  for (char c : lf_text) {
    if (c == '\n')
      out += eol;
    else
      out.push_back(c);
  }
  return out;
}

TEST(Header, LineEndingsAndUnfolding) {
  const std::string msg =
      "Received: from a by b;\n\tMon, 1 Jan 2018 00:00:00 +0000\n"
      "Subject: hello\n  world\n"
      "From: A <a@example.com>\n"
      "\n"
      "body line\n";
  for (const char* eol : {"\n", "\r\n", "\r"}) {
    SCOPED_TRACE(eol[0] == '\r' ? (eol[1] ? "CRLF" : "CR") : "LF");
    std::string m = with_endings(msg, eol);
    auto h = parse_header(m);
    ASSERT_EQ(h.fields.size(), 3u);
    EXPECT_EQ(h.fields[0].name, "Received");
    EXPECT_EQ(h.fields[0].value, "from a by b;\tMon, 1 Jan 2018 00:00:00 +0000");
    EXPECT_EQ(h.fields[1].value, "hello  world");
    EXPECT_EQ(h.fields[1].line, 3u);
    EXPECT_EQ(m.substr(h.body_offset, 4), "body");
    EXPECT_TRUE(h.problems.empty());
    ASSERT_NE(h.find("SUBJECT"), nullptr);
    EXPECT_EQ(h.find_all("received").size(), 1u);
  }
}

TEST(Header, BrokenCrlfIsOneLineEnd) {
  auto h = parse_header("A: 1\r\r\nB: 2\r\n\r\nbody");
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(h.fields[1].value, "2");
}

TEST(Header, MboxEnvelopeLineSkipped) {
  auto h = parse_header("From MAILER-DAEMON Fri Jul  8 12:08:34 2011\nFrom: x@y\n\n");
  EXPECT_TRUE(h.has_envelope_line);
  ASSERT_EQ(h.fields.size(), 1u);
  EXPECT_EQ(h.fields[0].name, "From");
}

TEST(Header, MissingBlankLineAndGarbage) {
  auto h = parse_header("Subject: s\nthis is the body\nmore\n");
  ASSERT_EQ(h.fields.size(), 1u);
  EXPECT_EQ(h.body_offset, 11u);
  EXPECT_EQ(h.problems.size(), 1u);

  auto g = parse_header("  leading continuation\nBad Name: x\nSubject : obsolete\n\n");
  ASSERT_EQ(g.fields.size(), 1u);
  EXPECT_EQ(g.fields[0].name, "Subject");
  EXPECT_EQ(g.fields[0].value, "obsolete");
  EXPECT_EQ(g.problems.size(), 2u);
}

TEST(Header, EightBitAndEmpty) {
  auto h = parse_header("Subject: caf\xE9\n\n");
  ASSERT_EQ(h.fields.size(), 1u);
  EXPECT_EQ(h.fields[0].value, "caf\xE9");
  auto e = parse_header("");
  EXPECT_TRUE(e.fields.empty());
  EXPECT_EQ(e.body_offset, 0u);
  auto only_body = parse_header("\nbody");
  EXPECT_TRUE(only_body.fields.empty());
  EXPECT_EQ(only_body.body_offset, 1u);
}

TEST(Header, SplitAtEveryByteNeverCrashes) {
  std::string m = "Received: from a\r\n by b; x\r\nSubject: =?UTF-8?Q?a?=\r\n\r\nbody\r\n";
  for (std::size_t i = 0; i <= m.size(); ++i) {
    auto a = parse_header(m.substr(0, i));
    auto b = parse_header(m.substr(i));
    EXPECT_LE(a.body_offset, i);
    EXPECT_LE(b.body_offset, m.size() - i);
  }
}

TEST(HeaderAddress, Forms) {
  struct Case {
    const char* in;
    const char* spec;
    const char* domain;
  };
  const Case cases[] = {
      {"A <a@Example.COM>", "a@Example.COM", "example.com"},
      {"a@example.com", "a@example.com", "example.com"},
      {"a@example.com (Name, with comma)", "a@example.com", "example.com"},
      {"\"Doe, John <j@fake.example>\" <j@real.example>", "j@real.example", "real.example"},
      {"<@relay.example:a@example.com>", "a@example.com", "example.com"},
      {"Group: a@g.example, b@h.example;", "a@g.example", "g.example"},
      {"<>", "", ""},
      {"undisclosed", "", ""},
      {"a@example.com.", "a@example.com", "example.com"},
      {"=?UTF-8?B?5bGx55Sw?= <yamada@example.jp>", "yamada@example.jp", "example.jp"},
      {"x@one.example, y@two.example", "x@one.example", "one.example"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    auto a = first_address(c.in);
    EXPECT_EQ(a.addr_spec, c.spec);
    EXPECT_EQ(a.domain, c.domain);
  }
}

// Issue 14: the strict reading used by the header-From policy. Every shape
// that hid a second author behind the first one is an error or lists both.
TEST(MailboxList, ParsesEveryMailbox) {
  struct Case {
    const char* in;
    std::vector<std::string> addresses;
  };
  const Case cases[] = {
      {"b@example.test", {"b@example.test"}},
      {"B <b@Example.TEST>", {"b@example.test"}},
      {"\"Doe, John <ceo@x.test>\" <b@x.test>", {"b@x.test"}},
      {"b@x.test (Bob <ceo@x.test>, boss)", {"b@x.test"}},
      {"(comment (nested)) b@x.test", {"b@x.test"}},
      {"b@x.test, ceo@x.test", {"b@x.test", "ceo@x.test"}},
      {"Bob <b@x.test>, \"C\" <ceo@x.test>", {"b@x.test", "ceo@x.test"}},
      {"Team: b@x.test, Ceo <ceo@x.test>;", {"b@x.test", "ceo@x.test"}},
      {"Team: b@x.test;, ceo@x.test", {"b@x.test", "ceo@x.test"}},
      {"undisclosed-recipients:;", {}},
      {"", {}},
      {", b@x.test,", {"b@x.test"}},
      {"<@relay.test,@r2.test:b@x.test>", {"b@x.test"}},
      {"=?UTF-8?B?5bGx55Sw?= <yamada@example.jp>", {"yamada@example.jp"}},
      {"=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>", {"yamada@example.jp"}},
      {"\xe5\xb1\xb1\xe7\x94\xb0 <yamada@example.jp>", {"yamada@example.jp"}},
      {"\"b\"@x.test", {"b@x.test"}},
      {"\"b c\"@x.test", {"\"b c\"@x.test"}},
      {"taro..yamada.@docomo.ne.jp", {"taro..yamada.@docomo.ne.jp"}},
      {"b@x.test.", {"b@x.test"}},
      {"b @ x . test", {"b@x.test"}},
      {"b@[192.0.2.1]", {"b@[192.0.2.1]"}},
      {"Dr. Bob <b@x.test>", {"b@x.test"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    auto r = parse_mailbox_list(c.in, true);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.addresses, c.addresses);
  }
}

TEST(MailboxList, RefusesWhatCannotBeRead) {
  const char* cases[] = {
      "<b@x.test> <ceo@x.test>",  // two angle-addrs without a comma
      "b@x.test <ceo@x.test>",
      "b@x.test ceo@x.test",
      "Bob b@x.test",
      "b@x.test; ceo@x.test",
      "bob",
      "Bob <bob>",
      "<>",
      "<b@x.test",
      "b@x.test>",
      "\"b@x.test",
      "(b@x.test",
      "b@x.test)",
      "b@",
      "@x.test",
      "b@x..test",
      "A: B: b@x.test;;",  // nested group
      "Team: b@x.test",    // group not ended
      ": b@x.test;",       // group without a name
      "b\\@x.test",
      "b@x.test\x01",
      "\"b\x7f\"@x.test",
      "b@[1.2.3.4",
      "<b@x.test> ceo@x.test",
  };
  for (const char* c : cases) {
    SCOPED_TRACE(c);
    auto r = parse_mailbox_list(c, true);
    EXPECT_NE(r.error, "");
    EXPECT_TRUE(r.addresses.empty());
  }
}

TEST(MailboxList, GroupsOnlyWhereAllowed) {
  EXPECT_NE(parse_mailbox_list("Team: b@x.test;", false).error, "");
  EXPECT_EQ(parse_mailbox_list("Team: b@x.test;", true).error, "");
  EXPECT_EQ(parse_mailbox_list("Bob <b@x.test>", false).addresses,
            std::vector<std::string>{"b@x.test"});
}

}  // namespace
}  // namespace tegami::mail
