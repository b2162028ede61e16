// Pure helpers: base64 (core/base64.hpp, used by SASL), SASL PLAIN, APOP
// timestamps, multi-line message formatting.
#include <gtest/gtest.h>

#include <regex>

#include "core/base64.hpp"
#include "mail/sasl_plain.hpp"
#include "proto/pop3/message_format.hpp"
#include "proto/pop3/server_session.hpp"

namespace tegami::pop3 {
namespace {

TEST(Base64, Rfc4648TestVectors) {
  // RFC 4648 §10.
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain) << encoded;
  }
}

TEST(Base64, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    const std::string part = all.substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(part)), part);
  }
  EXPECT_EQ(base64_encode(std::string("\0alice\0secret", 13)), "AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(Base64, RejectsNonCanonicalInput) {
  for (const char* bad : {"Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm9v YmFy", "Zm9v\r\n",
                          "Zm-v", "Zm_v", "Zh==", "Zm9=", "=Zm9", "Zg=x", "Zm9vYg=\x01"}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

TEST(SaslPlain, Parses) {
  using C = mail::PlainCredentials;
  using mail::kMaxPlainField;
  using mail::parse_sasl_plain;
  EXPECT_EQ(parse_sasl_plain(std::string("\0alice\0secret", 13)), (C{"", "alice", "secret"}));
  EXPECT_EQ(parse_sasl_plain(std::string("admin\0alice\0s e", 15)), (C{"admin", "alice", "s e"}));
  for (const auto& bad :
       {std::string(""), std::string("alice"), std::string("\0alice", 6),
        std::string("\0\0secret", 8), std::string("\0alice\0", 7), std::string("\0a\0b\0c", 6)}) {
    EXPECT_FALSE(parse_sasl_plain(bad)) << bad.size();
  }
  const std::string max(kMaxPlainField, 'x');
  EXPECT_TRUE(parse_sasl_plain(max + '\0' + max + '\0' + max));
  EXPECT_FALSE(parse_sasl_plain(std::string(1, '\0') + max + "x" + '\0' + "pw"));
  EXPECT_FALSE(parse_sasl_plain(std::string(1, '\0') + "a" + '\0' + max + "x"));
  EXPECT_FALSE(parse_sasl_plain(max + "x" + '\0' + "a" + '\0' + "pw"));
}

TEST(ApopTimestamp, Format) {
  EXPECT_EQ(make_apop_timestamp(1896, 7, 697170952, 0xdeadbeef, "dbc.mtview.ca.us"),
            "<1896.7.697170952.00000000deadbeef@dbc.mtview.ca.us>");
  EXPECT_EQ(make_apop_timestamp(1, 2, 3, ~0ull, "mail.example.test"),
            "<1.2.3.ffffffffffffffff@mail.example.test>");
  // Hostile or empty host names cannot break the msg-id syntax.
  EXPECT_EQ(make_apop_timestamp(1, 2, 3, 4, "a> b\r\n@c"), "<1.2.3.0000000000000004@abc>");
  EXPECT_EQ(make_apop_timestamp(1, 2, 3, 4, ""), "<1.2.3.0000000000000004@localhost>");
  const std::regex shape(R"(<\d+\.\d+\.\d+\.[0-9a-f]{16}@[A-Za-z0-9.-]+>)");
  EXPECT_TRUE(std::regex_match(make_apop_timestamp(99999, 1, 1700000000, 42, "mx.example"), shape));
  EXPECT_NE(make_apop_timestamp(1, 1, 5, 9, "h"), make_apop_timestamp(1, 2, 5, 9, "h"));
}

struct FormatCase {
  std::string message;
  std::optional<std::uint64_t> lines;
  std::string expected;
};

TEST(MessageFormat, StuffsAndTerminates) {
  const std::vector<FormatCase> cases = {
      {"", std::nullopt, ".\r\n"},
      {"A: b\r\n\r\nbody\r\n", std::nullopt, "A: b\r\n\r\nbody\r\n.\r\n"},
      {"A: b\r\n\r\n.\r\n..\r\n.x\r\n", std::nullopt, "A: b\r\n\r\n..\r\n...\r\n..x\r\n.\r\n"},
      {".A: b\r\n", std::nullopt, "..A: b\r\n.\r\n"},
      {"A: b\n\nbare lf\n", std::nullopt, "A: b\r\n\r\nbare lf\r\n.\r\n"},
      {"A: b\r\n\r\nno end", std::nullopt, "A: b\r\n\r\nno end\r\n.\r\n"},
      {"A: b\r\n\r\n\r\n", std::nullopt, "A: b\r\n\r\n\r\n.\r\n"},
      {"A: b\r\nC: d\r\n\r\n1\r\n2\r\n3\r\n", 0, "A: b\r\nC: d\r\n\r\n.\r\n"},
      {"A: b\r\n\r\n1\r\n.2\r\n3\r\n", 2, "A: b\r\n\r\n1\r\n..2\r\n.\r\n"},
      {"A: b\r\n\r\n1\r\n", 1000, "A: b\r\n\r\n1\r\n.\r\n"},
      {"A: b\r\n\r\n\r\n\r\nx\r\n", 1, "A: b\r\n\r\n\r\n.\r\n"},  // empty body line counts
      {"A: b\r\nC: d\r\n", 0, "A: b\r\nC: d\r\n.\r\n"},           // no body at all
  };
  for (const auto& c : cases) {
    std::string out = "+OK\r\n";
    append_multiline_message(out, c.message, c.lines);
    EXPECT_EQ(out, "+OK\r\n" + c.expected) << c.message;
  }
}

// Issue 13: the streaming encoder gives the same bytes however the file is
// cut into chunks (every single cut and every pair of cuts).
TEST(MessageFormat, StreamingAtEverySplit) {
  const std::vector<FormatCase> cases = {
      {"A: b\n\n.\n..\n.x\nlast", std::nullopt, "A: b\r\n\r\n..\r\n...\r\n..x\r\nlast\r\n.\r\n"},
      {"A: b\r\n\r\n1\r\n.2\r\n3\r\n", 2, "A: b\r\n\r\n1\r\n..2\r\n.\r\n"},
      {"A: b\n\n\n\nx\n", 1, "A: b\r\n\r\n\r\n.\r\n"},
      {"\r.a\r\r\nb\r", std::nullopt, "\r.a\r\r\nb\r\n.\r\n"},
      {"\r", 0, "\r\n.\r\n"},
      {"A: b\n\r\n.\r\n", 0, "A: b\r\n\r\n.\r\n"},
  };
  for (const auto& c : cases) {
    const std::string& m = c.message;
    for (std::size_t i = 0; i <= m.size(); ++i) {
      for (std::size_t j = i; j <= m.size(); ++j) {
        MultilineEncoder enc(c.lines);
        std::string out;
        if (enc.feed(std::string_view(m).substr(0, i), out) &&
            enc.feed(std::string_view(m).substr(i, j - i), out))
          enc.feed(std::string_view(m).substr(j), out);
        enc.finish(out);
        EXPECT_EQ(out, c.expected) << "cuts " << i << "," << j << " of " << m;
      }
    }
  }
}

TEST(MessageFormat, TopStopsReadingEarly) {
  MultilineEncoder enc(1);
  std::string out;
  EXPECT_TRUE(enc.feed("A: b\n\n1\n", out));
  EXPECT_FALSE(enc.feed("2\n3\n", out));  // the rest of the file is not needed
  EXPECT_FALSE(enc.feed("4\n", out));
  enc.finish(out);
  EXPECT_EQ(out, "A: b\r\n\r\n1\r\n.\r\n");
}

}  // namespace
}  // namespace tegami::pop3
