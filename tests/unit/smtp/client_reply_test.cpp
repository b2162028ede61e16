// The SMTP reply parser (client side) and the DATA encoder.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/smtp/client_session.hpp"
#include "proto/smtp/data_encoder.hpp"
#include "proto/smtp/reply_parser.hpp"
#include "split_feed.hpp"

namespace tegami::smtp {
namespace {

using namespace std::string_literals;

using testing::all_splits;
using testing::describe_split;

std::string describe(const ReplyResult& r) {
  if (const auto* s = std::get_if<ServerReply>(&r)) {
    std::string out = std::to_string(s->code);
    for (const auto& l : s->lines) out += "|" + l;
    return out;
  }
  if (const auto* e = std::get_if<ReplyError>(&r))
    return "error " + std::string(to_string(e->kind));
  return "need";
}

// Feeds like the client session: stops at the first error.
std::vector<std::string> run(const std::vector<std::string_view>& chunks) {
  ReplyParser p;
  std::vector<std::string> out;
  for (auto chunk : chunks) {
    while (!chunk.empty()) {
      auto f = p.feed(chunk);
      EXPECT_LE(f.consumed, chunk.size());
      chunk.remove_prefix(f.consumed);
      if (std::holds_alternative<NeedMore>(f.result)) {
        EXPECT_TRUE(chunk.empty());
        break;
      }
      out.push_back(describe(f.result));
      if (std::holds_alternative<ReplyError>(f.result)) return out;
    }
  }
  return out;
}

struct ReplyCase {
  const char* name;
  std::string input;
  std::vector<std::string> expected;
};

TEST(ReplyParser, Table) {
  const ReplyCase cases[] = {
      {"single", "220 mx.example ESMTP\r\n", {"220|mx.example ESMTP"}},
      {"code only", "250\r\n", {"250|"}},
      {"code and space", "250 \r\n", {"250|"}},
      {"multi-line",
       "250-mx\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
       {"250|mx|PIPELINING|SIZE 1000"}},
      {"two replies", "250 a\r\n354 b\r\n", {"250|a", "354|b"}},
      {"bare LF tolerated", "250-a\n250 b\n", {"250|a|b"}},
      {"incomplete", "250-a\r\n250 b", {}},
      {"control bytes sanitised", "550 a\tb\x01\xff\0c\r\n"s, {"550|a?b???c"}},
      {"CR inside a line", "550 a\rb\r\n", {"550|a?b"}},
      {"mixed codes", "250-a\r\n251 b\r\n", {"error reply lines with different codes"}},
      {"letters", "25x ok\r\n", {"error malformed reply"}},
      {"short", "25\r\n", {"error malformed reply"}},
      {"bad separator", "250_ok\r\n", {"error malformed reply"}},
      {"class 1", "100 what\r\n", {"error malformed reply"}},
      {"class 6", "600 what\r\n", {"error malformed reply"}},
      {"second digit 6", "260 what\r\n", {"error malformed reply"}},
      {"empty line", "\r\n", {"error malformed reply"}},
      {"stops at the error", "foo\r\n250 ok\r\n", {"error malformed reply"}},
      {"longest line",
       "250 " + std::string(kMaxReplyLineIn - 4, 'x') + "\r\n",
       {"250|" + std::string(kMaxReplyLineIn - 4, 'x')}},
      {"line too long",
       "250 " + std::string(kMaxReplyLineIn - 3, 'x') + "\r\n",
       {"error reply line too long"}},
      {"endless line", std::string(kMaxReplyLineIn * 3, '2'), {"error reply line too long"}},
  };
  for (const auto& c : cases) {
    for (const auto& split : all_splits(c.input)) {
      EXPECT_EQ(run(split), c.expected) << c.name << " split " << describe_split(split);
    }
  }
}

TEST(ReplyParser, TooManyLines) {
  std::string in;
  for (std::size_t i = 0; i < kMaxReplyLines; ++i) in += "250-x\r\n";
  in += "250 last\r\n";
  EXPECT_EQ(run({in}), std::vector<std::string>{"error reply with too many lines"});
  std::string ok;
  for (std::size_t i = 0; i + 1 < kMaxReplyLines; ++i) ok += "250-x\r\n";
  ok += "250 last\r\n";
  auto r = run({ok});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].rfind("250|x|", 0), 0u);
}

TEST(ReplyParser, EnhancedCodeAndText) {
  struct Case {
    std::string input, enhanced, status, text;
  } cases[] = {
      {"550 5.1.1 <b@y>: unknown\r\n", "5.1.1", "5.1.1", "550 5.1.1 <b@y>: unknown"},
      {"451 4.7.1 try later\r\n", "4.7.1", "4.7.1", "451 4.7.1 try later"},
      {"550 4.1.1 wrong class\r\n", "", "5.0.0", "550 4.1.1 wrong class"},
      {"550 5.1.1000 too long\r\n", "", "5.0.0", "550 5.1.1000 too long"},
      {"250 2.0.0\r\n", "2.0.0", "2.0.0", "250 2.0.0"},
      {"554 no enhanced\r\n", "", "5.0.0", "554 no enhanced"},
      {"421-4.3.2 first\r\n421 4.3.2 second\r\n", "4.3.2", "4.3.2", "421 4.3.2 first 4.3.2 second"},
      {"452\r\n", "", "4.0.0", "452"},
  };
  for (const auto& c : cases) {
    ReplyParser p;
    auto f = p.feed(c.input);
    const auto* r = std::get_if<ServerReply>(&f.result);
    ASSERT_NE(r, nullptr) << c.input;
    EXPECT_EQ(r->enhanced(), c.enhanced) << c.input;
    EXPECT_EQ(status_for(*r), c.status) << c.input;
    EXPECT_EQ(r->text(), c.text) << c.input;
  }
}

TEST(DataEncoder, Table) {
  struct Case {
    const char* name;
    std::string in, out;
  } cases[] = {
      {"empty", "", ".\r\n"},
      {"one line", "a\r\n", "a\r\n.\r\n"},
      {"no final line end", "a", "a\r\n.\r\n"},
      {"leading dot", ".a\r\n..b\r\n.\r\n", "..a\r\n...b\r\n..\r\n.\r\n"},
      {"dot inside a line", "a.b\r\n", "a.b\r\n.\r\n"},
      {"bare LF", "a\nb\n", "a\r\nb\r\n.\r\n"},
      {"bare CR", "a\rb\r", "a\r\nb\r\n.\r\n"},
      {"smuggling LF.LF", "a\n.\nMAIL FROM:<x>\n", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n"},
      {"smuggling CR.CR", "a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"},
      {"CRCRLF", "a\r\r\nb\r\n", "a\r\n\r\nb\r\n.\r\n"},
      {"dot after bare CR", "a\r.b", "a\r\n..b\r\n.\r\n"},
      {"blank lines", "\r\n\r\n", "\r\n\r\n.\r\n"},
      // Issue 14: NUL never goes out; a dot behind one is still stuffed.
      {"NUL dropped", "a\0b\0\r\n"s, "ab\r\n.\r\n"},
      {"NUL before a dot", "a\r\n\0.\r\nRCPT TO:<x>\r\n"s, "a\r\n..\r\nRCPT TO:<x>\r\n.\r\n"},
      {"NUL between CR and LF", "a\r\0\nb"s, "a\r\nb\r\n.\r\n"},
      {"only NUL", "\0"s, ".\r\n"},
  };
  for (const auto& c : cases) EXPECT_EQ(encode_data(c.in), c.out) << c.name;
}

// Whatever the input, the output has only CRLF line ends, no line starting
// with a single dot except the terminator, and ends with CRLF.CRLF.
TEST(DataEncoder, NeverEmitsABareLineEndOrAnEarlyTerminator) {
  const std::string alphabet = "\r\n.a\0"s;
  std::string in;
  // Every string of length 6 over the alphabet (5^6 = 15625).
  for (int n = 0; n < 15625; ++n) {
    in.clear();
    for (int k = 0, v = n; k < 6; ++k, v /= 5) in += alphabet[static_cast<std::size_t>(v % 5)];
    std::string out = encode_data(in);
    ASSERT_GE(out.size(), 3u);
    ASSERT_EQ(out.substr(out.size() - 3), ".\r\n");
    std::string body = out.substr(0, out.size() - 3);
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\r') {
        ASSERT_TRUE(i + 1 < body.size() && body[i + 1] == '\n') << n;
      }
      if (body[i] == '\n') {
        ASSERT_TRUE(i > 0 && body[i - 1] == '\r') << n;
      }
    }
    ASSERT_EQ(body.find("\r\n.\r\n"), std::string::npos) << n;
    ASSERT_EQ(out.find('\0'), std::string::npos) << n;  // issue 14
    ASSERT_TRUE(body.empty() || body.substr(body.size() - 2) == "\r\n") << n;
    ASSERT_NE(body.substr(0, 2), ".\r");
  }
}

TEST(DataEncoder, EightBit) {
  EXPECT_FALSE(has_eight_bit("plain ascii\r\n\x7f"));
  EXPECT_TRUE(has_eight_bit("caf\xc3\xa9"));
  EXPECT_FALSE(has_eight_bit(""));
}

// The streaming encoder gives the same bytes whatever the split: every
// input of length 6 over a tricky alphabet, cut at every pair of positions,
// for DATA and BDAT; the count-only mode agrees with the bytes.
TEST(WireEncoder, AnySplitGivesTheWholeEncoding) {
  const std::string alphabet = "\r\n.a\0"s;
  std::string in;
  for (int n = 0; n < 15625; n += 7) {
    in.clear();
    for (int k = 0, v = n; k < 6; ++k, v /= 5) in += alphabet[static_cast<std::size_t>(v % 5)];
    for (auto mode : {WireEncoder::Mode::kData, WireEncoder::Mode::kBdat}) {
      WireEncoder whole(mode);
      std::string expected;
      whole.encode(in, &expected);
      whole.finish(&expected);
      if (mode == WireEncoder::Mode::kData) {
        ASSERT_EQ(expected, encode_data(in)) << n;
      }
      for (std::size_t a = 0; a <= in.size(); ++a) {
        for (std::size_t b = a; b <= in.size(); ++b) {
          WireEncoder e(mode), counter(mode);
          std::string out;
          e.encode(std::string_view(in).substr(0, a), &out);
          e.encode(std::string_view(in).substr(a, b - a), &out);
          e.encode(std::string_view(in).substr(b), &out);
          e.finish(&out);
          ASSERT_EQ(out, expected) << n << " split " << a << "," << b;
          ASSERT_EQ(e.produced(), out.size());
          counter.encode(std::string_view(in).substr(0, a), nullptr);
          counter.encode(std::string_view(in).substr(a), nullptr);
          counter.finish(nullptr);
          ASSERT_EQ(counter.produced(), out.size()) << n;
        }
      }
    }
  }
}

}  // namespace
}  // namespace tegami::smtp
