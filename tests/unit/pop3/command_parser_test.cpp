#include "proto/pop3/command_parser.hpp"

#include <gtest/gtest.h>

#include <set>

namespace tegami::pop3 {
namespace {

using Kind = ParseError::Kind;

// Feeds `input` in chunks cut at `cuts` and collects every non-NeedMore output.
std::vector<ParseOutput> parse_all(std::string_view input, const std::vector<std::size_t>& cuts,
                                   CommandParser::Mode mode = CommandParser::Mode::Command) {
  CommandParser parser;
  parser.set_mode(mode);
  std::vector<ParseOutput> out;
  std::size_t start = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(input.size());
  for (std::size_t end : ends) {
    std::string_view chunk = input.substr(start, end - start);
    start = end;
    while (!chunk.empty()) {
      ParseResult r = parser.feed(chunk);
      EXPECT_LE(r.consumed, chunk.size());
      if (std::holds_alternative<NeedMore>(r.output)) {
        EXPECT_EQ(r.consumed, chunk.size()) << "NeedMore must consume everything";
      } else {
        EXPECT_GT(r.consumed, 0u);
        out.push_back(r.output);
      }
      EXPECT_LE(parser.buffered(), kMaxSaslLine + 1);
      chunk.remove_prefix(r.consumed);
    }
  }
  return out;
}

ParseOutput one(std::string_view line) {
  auto outs = parse_all(line, {});
  EXPECT_EQ(outs.size(), 1u) << line;
  return outs.empty() ? ParseOutput{NeedMore{}} : outs[0];
}

Command cmd(Verb v, std::vector<std::string> args = {}) {
  return Command{v, std::move(args)};
}
ParseError err(Kind k, std::optional<Verb> v = std::nullopt) {
  return ParseError{k, v};
}

TEST(Pop3CommandTable, EveryVerbHasOneUpperCaseRow) {
  std::set<Verb> seen;
  for (const auto& spec : kCommands) {
    EXPECT_TRUE(seen.insert(spec.verb).second) << spec.keyword;
    EXPECT_EQ(&command_spec(spec.verb), &spec);
    for (char c : spec.keyword) EXPECT_TRUE(c >= 'A' && c <= 'Z') << spec.keyword;
    EXPECT_LE(spec.min_args, spec.max_args);
    EXPECT_NE(spec.states, 0);
    if (spec.rest_of_line) {
      EXPECT_EQ(spec.max_args, 1);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(Verb::Uidl) + 1);
}

TEST(Pop3CommandTable, LookupIsCaseInsensitive) {
  ASSERT_NE(find_command("uidl"), nullptr);
  EXPECT_EQ(find_command("uIdL")->verb, Verb::Uidl);
  EXPECT_EQ(find_command("Top")->verb, Verb::Top);
  EXPECT_EQ(find_command("UIDLX"), nullptr);
  EXPECT_EQ(find_command("TO"), nullptr);
  EXPECT_EQ(find_command(""), nullptr);
}

struct LineCase {
  std::string input;
  ParseOutput expected;
};

TEST(Pop3CommandParser, Lines) {
  const std::vector<LineCase> cases = {
      {"USER alice\r\n", cmd(Verb::User, {"alice"})},
      {"user alice\r\n", cmd(Verb::User, {"alice"})},
      {"USER alice\n", cmd(Verb::User, {"alice"})},  // bare LF accepted
      {"USER  alice  \r\n", cmd(Verb::User, {"alice"})},
      {"USER\r\n", err(Kind::BadArguments, Verb::User)},
      {"USER a b\r\n", err(Kind::BadArguments, Verb::User)},
      {"PASS my secret \r\n", cmd(Verb::Pass, {"my secret "})},
      {"PASS  lead\r\n", cmd(Verb::Pass, {" lead"})},
      {"PASS\r\n", err(Kind::BadArguments, Verb::Pass)},
      {"PASS \r\n", err(Kind::BadArguments, Verb::Pass)},
      {"PASS p\xc3\xa4ss\r\n", cmd(Verb::Pass, {"p\xc3\xa4ss"})},  // UTF-8 allowed
      {"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
       cmd(Verb::Apop, {"mrose", "c4c9334bac560ecc979e58001b3e22fb"})},
      {"APOP mrose\r\n", err(Kind::BadArguments, Verb::Apop)},
      {"AUTH\r\n", cmd(Verb::Auth)},
      {"AUTH PLAIN\r\n", cmd(Verb::Auth, {"PLAIN"})},
      {"AUTH PLAIN AGEAYg==\r\n", cmd(Verb::Auth, {"PLAIN", "AGEAYg=="})},
      {"AUTH PLAIN a b\r\n", err(Kind::BadArguments, Verb::Auth)},
      {"STLS\r\n", cmd(Verb::Stls)},
      {"CAPA\r\n", cmd(Verb::Capa)},
      {"QUIT\r\n", cmd(Verb::Quit)},
      {"QUIT now\r\n", err(Kind::BadArguments, Verb::Quit)},
      {"STAT\r\n", cmd(Verb::Stat)},
      {"LIST\r\n", cmd(Verb::List)},
      {"LIST 1\r\n", cmd(Verb::List, {"1"})},
      {"LIST 1 2\r\n", err(Kind::BadArguments, Verb::List)},
      {"RETR 1\r\n", cmd(Verb::Retr, {"1"})},
      {"RETR\r\n", err(Kind::BadArguments, Verb::Retr)},
      {"DELE 3\r\n", cmd(Verb::Dele, {"3"})},
      {"NOOP\r\n", cmd(Verb::Noop)},
      {"RSET\r\n", cmd(Verb::Rset)},
      {"TOP 1 10\r\n", cmd(Verb::Top, {"1", "10"})},
      {"TOP 1\r\n", err(Kind::BadArguments, Verb::Top)},
      {"UIDL\r\n", cmd(Verb::Uidl)},
      {"UIDL 7\r\n", cmd(Verb::Uidl, {"7"})},
      {"\r\n", err(Kind::BadSyntax)},
      {"\n", err(Kind::BadSyntax)},
      {" USER alice\r\n", err(Kind::BadSyntax)},
      {"USER al\x01ice\r\n", err(Kind::BadSyntax)},
      {"USER al\rice\r\n", err(Kind::BadSyntax)},  // bare CR
      {"USER alice\r\r\n", err(Kind::BadSyntax)},
      {std::string("USER al\0ice\r\n", 13), err(Kind::BadSyntax)},
      {"USER\talice\r\n", err(Kind::BadSyntax)},
      {"HELO x\r\n", err(Kind::UnknownCommand)},
      {"GET / HTTP/1.0\r\n", err(Kind::UnknownCommand)},
      {"USERS alice\r\n", err(Kind::UnknownCommand)},
      {"\xff\xfe\r\n", err(Kind::UnknownCommand)},
      {"USER " + std::string(kMaxArgument, 'a') + "\r\n",
       cmd(Verb::User, {std::string(kMaxArgument, 'a')})},
      {"USER " + std::string(kMaxArgument + 1, 'a') + "\r\n", err(Kind::BadArguments, Verb::User)},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(one(c.input), c.expected) << c.input;
  }
}

TEST(Pop3CommandParser, LineLimitIs512OctetsWithCrlf) {
  const std::string ok = "NOOP" + std::string(kMaxCommandLine - 2 - 4, ' ');
  ASSERT_EQ(ok.size() + 2, kMaxCommandLine);
  EXPECT_EQ(one(ok + "\r\n"), ParseOutput{cmd(Verb::Noop)});
  EXPECT_EQ(one(ok + "\n"), ParseOutput{cmd(Verb::Noop)});
  EXPECT_EQ(one(ok + " \r\n"), ParseOutput{err(Kind::LineTooLong)});
  EXPECT_EQ(one(ok + " \n"), ParseOutput{err(Kind::LineTooLong)});
  // Far too long: reported once, the rest of the line discarded, parsing resumes.
  const auto outs = parse_all(std::string(5000, 'x') + "\r\nNOOP\r\n", {});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0], ParseOutput{err(Kind::LineTooLong)});
  EXPECT_EQ(outs[1], ParseOutput{cmd(Verb::Noop)});
}

TEST(Pop3CommandParser, TooLongIsReportedBeforeTheLineEnds) {
  CommandParser parser;
  const std::string junk(kMaxCommandLine + 10, 'x');
  ParseResult r = parser.feed(junk);
  EXPECT_EQ(r.output, ParseOutput{err(Kind::LineTooLong)});
  EXPECT_LT(r.consumed, junk.size());
  EXPECT_EQ(parser.buffered(), 0u);
  r = parser.feed(std::string_view(junk).substr(r.consumed));
  EXPECT_TRUE(std::holds_alternative<NeedMore>(r.output));
}

TEST(Pop3CommandParser, EndlessLineBecomesFatal) {
  const std::string flood(kMaxDiscard + 10, 'x');
  const auto outs = parse_all(flood + "\r\nNOOP\r\n", {});
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_EQ(outs[0], ParseOutput{err(Kind::LineTooLong)});
  EXPECT_EQ(outs[1], ParseOutput{err(Kind::Flood)});
  EXPECT_EQ(outs[2], ParseOutput{cmd(Verb::Noop)});
  // A line just under the flood bound is only "too long".
  const auto fine = parse_all(std::string(kMaxDiscard, 'x') + "\nNOOP\r\n", {});
  ASSERT_EQ(fine.size(), 2u);
  EXPECT_EQ(fine[0], ParseOutput{err(Kind::LineTooLong)});
}

TEST(Pop3CommandParser, SaslModeReturnsRawLines) {
  const auto outs =
      parse_all("AGFsaWNlAHNlY3JldA==\r\n*\r\n\r\nUSER x\n", {}, CommandParser::Mode::SaslResponse);
  ASSERT_EQ(outs.size(), 4u);
  EXPECT_EQ(outs[0], ParseOutput{SaslLine{"AGFsaWNlAHNlY3JldA=="}});
  EXPECT_EQ(outs[1], ParseOutput{SaslLine{"*"}});
  EXPECT_EQ(outs[2], ParseOutput{SaslLine{""}});
  EXPECT_EQ(outs[3], ParseOutput{SaslLine{"USER x"}});
  // Longer than a command line is fine, up to kMaxSaslLine.
  const std::string big(kMaxSaslLine - 2, 'A');
  EXPECT_EQ(parse_all(big + "\r\n", {}, CommandParser::Mode::SaslResponse)[0],
            ParseOutput{SaslLine{big}});
  EXPECT_EQ(parse_all(big + "A\r\n", {}, CommandParser::Mode::SaslResponse)[0],
            ParseOutput{err(Kind::LineTooLong)});
}

TEST(Pop3CommandParser, ModeSwitchAppliesToTheNextLine) {
  CommandParser parser;
  std::string_view in = "AUTH PLAIN\r\nAGEAYg==\r\nSTAT\r\n";
  ParseResult r = parser.feed(in);
  EXPECT_EQ(r.output, ParseOutput{cmd(Verb::Auth, {"PLAIN"})});
  in.remove_prefix(r.consumed);
  parser.set_mode(CommandParser::Mode::SaslResponse);
  r = parser.feed(in);
  EXPECT_EQ(r.output, ParseOutput{SaslLine{"AGEAYg=="}});
  in.remove_prefix(r.consumed);
  parser.set_mode(CommandParser::Mode::Command);
  r = parser.feed(in);
  EXPECT_EQ(r.output, ParseOutput{cmd(Verb::Stat)});
}

TEST(Pop3CommandParser, ResetForgetsPartialLine) {
  CommandParser parser;
  EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.feed("USER ev").output));
  parser.reset();
  EXPECT_EQ(parser.feed("NOOP\r\n").output, ParseOutput{cmd(Verb::Noop)});
}

// Rule 12: any input split at any byte boundary parses the same.
TEST(Pop3CommandParser, EverySplitParsesTheSame) {
  const std::string stream =
      "USER alice\r\nPASS my secret\nAPOP a c4c9334bac560ecc979e58001b3e22fb\r\n"
      "\r\nHELO\r\nUSER a\rb\r\nRETR 1 2\r\n" +
      std::string(kMaxCommandLine + 3, 'z') + "\r\nTOP 1 2\r\nlist\nQUIT\r\n";
  const auto whole = parse_all(stream, {});
  ASSERT_EQ(whole.size(), 11u);
  for (std::size_t i = 1; i < stream.size(); ++i) {
    ASSERT_EQ(parse_all(stream, {i}), whole) << "split at " << i;
  }
  for (std::size_t i = 1; i + 7 < stream.size(); i += 5) {
    ASSERT_EQ(parse_all(stream, {i, i + 3, i + 7}), whole) << "splits at " << i;
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
  EXPECT_EQ(parse_all(stream, every_byte), whole);
}

TEST(Pop3CommandParser, FloodIsSplitInvariant) {
  const std::string stream = std::string(kMaxDiscard + 1000, 'q') + "\nNOOP\n";
  const auto whole = parse_all(stream, {});
  for (std::size_t i :
       {1ul, 511ul, 512ul, 513ul, 4096ul, kMaxDiscard, kMaxDiscard + 1, kMaxDiscard + 511,
        kMaxDiscard + 512, kMaxDiscard + 513, kMaxDiscard + 100, kMaxDiscard + 101}) {
    EXPECT_EQ(parse_all(stream, {i}), whole) << "split at " << i;
  }
}

}  // namespace
}  // namespace tegami::pop3
