#include "proto/smtp/command_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "split_feed.hpp"

namespace tegami::smtp {
namespace {

using testing::all_splits;
using testing::describe_split;

std::string describe(const CommandResult& r) {
  if (auto* c = std::get_if<Command>(&r)) {
    std::string verb = c->spec != nullptr ? std::string(c->spec->name) : "?" + c->name;
    return "cmd " + verb + "|" + c->args;
  }
  if (auto* e = std::get_if<CommandError>(&r)) {
    switch (e->kind) {
      case CommandErrorKind::kBareLineEnding:
        return "bare";
      case CommandErrorKind::kLineTooLong:
        return "long";
      case CommandErrorKind::kAuthTooLong:
        return "authlong";
      case CommandErrorKind::kInvalidByte:
        return "byte";
      case CommandErrorKind::kNonSmtp:
        return "http";
    }
  }
  return "need";
}

struct Outcome {
  std::vector<std::string> results;
  std::size_t consumed = 0;
  bool operator==(const Outcome&) const = default;
};

// Feeds the chunks like a session does: stops at the first dropping error.
Outcome run(const std::vector<std::string_view>& chunks, bool normalize = false) {
  CommandParser p(normalize);
  Outcome o;
  for (auto chunk : chunks) {
    while (!chunk.empty()) {
      CommandFeed f = p.feed(chunk);
      EXPECT_LE(f.consumed, chunk.size());
      chunk.remove_prefix(f.consumed);
      o.consumed += f.consumed;
      if (std::holds_alternative<NeedMore>(f.result)) {
        EXPECT_TRUE(chunk.empty()) << "NeedMore with input left";
        break;
      }
      o.results.push_back(describe(f.result));
      if (auto* e = std::get_if<CommandError>(&f.result); e && error_drops(e->kind)) return o;
    }
  }
  return o;
}

struct Case {
  std::string name;
  std::string input;
  std::vector<std::string> expect;
};

std::vector<Case> cases() {
  std::string max_ok(kMaxCommandLine - 2 - 5, 'x');  // "NOOP " + x... + CRLF == 512
  std::string too_long(kMaxCommandLine - 2 - 4, 'x');
  return {
      {"ehlo", "EHLO client.example\r\n", {"cmd EHLO|client.example"}},
      {"lower case verb", "ehlo x\r\n", {"cmd EHLO|x"}},
      {"mixed case verb", "MaIl FROM:<a@b>\r\n", {"cmd MAIL|FROM:<a@b>"}},
      {"params kept",
       "MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME\r\n",
       {"cmd MAIL|FROM:<a@b> SIZE=10 BODY=8BITMIME"}},
      {"no args", "QUIT\r\n", {"cmd QUIT|"}},
      {"two lines", "NOOP\r\nRSET\r\n", {"cmd NOOP|", "cmd RSET|"}},
      {"empty line", "\r\n", {"cmd ?|"}},
      {"unknown verb", "FOO bar\r\n", {"cmd ?FOO|bar"}},
      {"verb prefix", "MAILX FROM:<a@b>\r\n", {"cmd ?MAILX|FROM:<a@b>"}},
      {"known not implemented",
       "STARTTLS\r\nBDAT 10 LAST\r\n",
       {"cmd STARTTLS|", "cmd BDAT|10 LAST"}},
      {"bare lf", "EHLO x\nNOOP\r\n", {"bare"}},
      {"bare cr", "EHLO x\rNOOP\r\n", {"bare"}},
      {"cr cr lf", "EHLO x\r\r\n", {"bare"}},
      {"lf first", "\n", {"bare"}},
      {"bare lf after good line", "NOOP\r\nRSET\n", {"cmd NOOP|", "bare"}},
      {"512 octets ok", "NOOP " + max_ok + "\r\n", {"cmd NOOP|" + max_ok}},
      {"513 octets", "NOOP " + too_long + "\r\nNOOP\r\n", {"long", "cmd NOOP|"}},
      {"huge line then command", std::string(5000, 'A') + "\r\nQUIT\r\n", {"long", "cmd QUIT|"}},
      {"bare lf while discarding", std::string(600, 'A') + "\nQUIT\r\n", {"bare"}},
      {"8-bit byte", "EHLO h\xc3\xa9\r\nNOOP\r\n", {"byte", "cmd NOOP|"}},
      {"nul byte", std::string("EHLO a\0b\r\n", 10), {"byte"}},
      {"tab", "EHLO\tx\r\n", {"byte"}},
      {"del", "EHLO x\x7f\r\n", {"byte"}},
      {"http get", "GET / HTTP/1.1\r\nHost: x\r\n", {"http"}},
      {"http post lower", "post /x HTTP/1.0\r\n", {"http"}},
      {"http connect", "CONNECT mx.example:25 HTTP/1.1\r\n", {"http"}},
      {"http head", "HEAD / HTTP/1.1\r\n", {"http"}},
      {"http put", "PUT /x HTTP/1.1\r\n", {"http"}},
      {"http options", "OPTIONS * HTTP/1.1\r\n", {"http"}},
      {"host header", "Host: mx.example\r\n", {"http"}},
      {"user agent header", "User-Agent: curl/8\r\n", {"http"}},
      {"header without space", "Subject:hi\r\n", {"http"}},
      {"colon alone", ": x\r\n", {"cmd ?:|x"}},
      {"partial line", "NOOP", {}},
      {"partial cr", "NOOP\r", {}},
  };
}

TEST(CommandParser, TableAtEverySplit) {
  for (const auto& c : cases()) {
    Outcome whole = run({c.input});
    EXPECT_EQ(whole.results, c.expect) << c.name;
    for (const auto& split : all_splits(c.input)) {
      EXPECT_EQ(run(split), whole) << c.name << " split " << describe_split(split);
    }
  }
}

// Issue 12: the default "normalize" mode: a bare LF ends a command line; a
// bare CR is still fatal.
TEST(CommandParser, NormalizeTableAtEverySplit) {
  const std::vector<Case> rows = {
      {"bare lf", "EHLO x\nNOOP\r\n", {"cmd EHLO|x", "cmd NOOP|"}},
      {"lf first", "\n", {"cmd ?|"}},
      {"bare lf after good line", "NOOP\r\nRSET\n", {"cmd NOOP|", "cmd RSET|"}},
      {"bare cr", "EHLO x\rNOOP\r\n", {"bare"}},
      {"cr cr lf", "EHLO x\r\r\n", {"bare"}},
      {"bare lf while discarding", std::string(600, 'A') + "\nQUIT\n", {"long", "cmd QUIT|"}},
  };
  for (const auto& c : rows) {
    Outcome whole = run({c.input}, true);
    EXPECT_EQ(whole.results, c.expect) << c.name;
    for (const auto& split : all_splits(c.input)) {
      EXPECT_EQ(run(split, true), whole) << c.name << " split " << describe_split(split);
    }
  }
}

TEST(CommandParser, LongLineStaysBounded) {
  CommandParser p;
  std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 64; ++i) {
    CommandFeed f = p.feed(chunk);
    ASSERT_EQ(f.consumed, chunk.size());
    ASSERT_TRUE(std::holds_alternative<NeedMore>(f.result));
  }
  CommandFeed f = p.feed("\r\n");
  ASSERT_TRUE(std::holds_alternative<CommandError>(f.result));
  EXPECT_EQ(std::get<CommandError>(f.result).kind, CommandErrorKind::kLineTooLong);
  EXPECT_FALSE(p.mid_line());
}

// RFC 4954 §4: AUTH with an initial response may be up to 12288 octets
// (CRLF included); other commands stay at 512.
TEST(CommandParser, AuthLinesMayBeLonger) {
  const std::string max_ok(kMaxAuthLine - 2 - 11, 'Q');  // "AUTH PLAIN " + Q... + CRLF
  const std::string auth_ok = "AUTH PLAIN " + max_ok + "\r\n";
  ASSERT_EQ(auth_ok.size(), kMaxAuthLine);
  const std::string auth_long = "auth plain " + max_ok + "Q\r\nNOOP\r\n";
  const std::string noop_long = "NOOP " + std::string(600, 'Q') + "\r\n";
  for (std::size_t split :
       {std::size_t{1}, std::size_t{4}, std::size_t{5}, std::size_t{600}, std::size_t{12287}}) {
    auto in_two = [&](const std::string& s) {
      std::string_view v(s);
      std::size_t k = std::min(split, v.size());
      return run({v.substr(0, k), v.substr(k)});
    };
    EXPECT_EQ(in_two(auth_ok).results, std::vector<std::string>{"cmd AUTH|PLAIN " + max_ok})
        << split;
    EXPECT_EQ(in_two(auth_long).results, (std::vector<std::string>{"authlong", "cmd NOOP|"}))
        << split;
    EXPECT_EQ(in_two(noop_long).results, std::vector<std::string>{"long"}) << split;
  }
  EXPECT_EQ(error_reply(CommandErrorKind::kAuthTooLong).substr(0, 10), "500 5.5.6 ");
}

TEST(CommandParser, StopsAfterEachLine) {
  CommandParser p;
  std::string_view in = "NOOP\r\nQUIT\r\n";
  CommandFeed f = p.feed(in);
  EXPECT_EQ(f.consumed, 6u);
  EXPECT_EQ(std::get<Command>(f.result).verb, Verb::kNoop);
}

TEST(CommandParser, ErrorReplies) {
  EXPECT_EQ(error_reply(CommandErrorKind::kBareLineEnding).substr(0, 10), "550 5.5.2 ");
  EXPECT_EQ(error_reply(CommandErrorKind::kLineTooLong).substr(0, 10), "500 5.5.2 ");
  EXPECT_EQ(error_reply(CommandErrorKind::kInvalidByte).substr(0, 10), "500 5.5.2 ");
  EXPECT_EQ(error_reply(CommandErrorKind::kNonSmtp).substr(0, 10), "221 2.7.0 ");
  EXPECT_TRUE(error_drops(CommandErrorKind::kBareLineEnding));
  EXPECT_TRUE(error_drops(CommandErrorKind::kNonSmtp));
  EXPECT_FALSE(error_drops(CommandErrorKind::kLineTooLong));
  EXPECT_FALSE(error_drops(CommandErrorKind::kInvalidByte));
}

TEST(CommandTable, LookupAndFlags) {
  ASSERT_NE(find_command("data"), nullptr);
  EXPECT_TRUE(find_command("DATA")->ends_group);
  EXPECT_TRUE(find_command("QUIT")->ends_group);
  EXPECT_TRUE(find_command("EHLO")->ends_group);
  EXPECT_FALSE(find_command("RCPT")->ends_group);
  EXPECT_FALSE(find_command("MAIL")->ends_group);
  EXPECT_FALSE(find_command("EXPN")->implemented);
  EXPECT_EQ(find_command("DAT"), nullptr);
  EXPECT_EQ(find_command(""), nullptr);
  EXPECT_TRUE(command_spec(Verb::kMail).allowed.contains(State::kReady));
  EXPECT_FALSE(command_spec(Verb::kMail).allowed.contains(State::kMail));
  EXPECT_FALSE(command_spec(Verb::kMail).allowed.contains(State::kGreeted));
  EXPECT_TRUE(command_spec(Verb::kRcpt).allowed.contains(State::kRcpt));
  EXPECT_FALSE(command_spec(Verb::kData).allowed.contains(State::kMail));
  for (const auto& c : kCommands) {
    EXPECT_EQ(find_command(c.name), &c);
    EXPECT_EQ(&command_spec(c.verb), &c);
    EXPECT_FALSE(c.allowed.contains(State::kData)) << c.name;
  }
}

}  // namespace
}  // namespace tegami::smtp
