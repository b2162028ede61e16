#include "store/maildir/maildir_names.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace tegami::maildir {
namespace {

TEST(MaildirNames, LineEndings) {
  struct Case {
    std::string wire, disk, back;
  };
  const Case cases[] = {
      {"", "", ""},
      {"a\r\nb\r\n", "a\nb\n", "a\r\nb\r\n"},
      {"a\r\n\r\nbody\r\n", "a\n\nbody\n", "a\r\n\r\nbody\r\n"},
      // An unterminated last line (a foreign file) is completed: POP3 sends whole lines.
      {"no newline", "no newline", "no newline\r\n"},
      {"bare\rcr\r\n", "bare\rcr\n", "bare\rcr\r\n"},
      {"bare\nlf\r\n", "bare\nlf\n", "bare\r\nlf\r\n"},
      {"\r\r\n", "\r\n", "\r\n"},  // odd input: the CR before CRLF survives, not doubled
      {"\r\n", "\n", "\r\n"},
      {"\r", "\r", "\r\n"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(crlf_to_lf(c.wire), c.disk);
    EXPECT_EQ(lf_to_crlf(c.disk), c.back);
    EXPECT_EQ(crlf_size(c.disk), c.back.size());
  }
  // A CRLF already on disk (a foreign Maildir) is not doubled.
  EXPECT_EQ(lf_to_crlf("a\r\nb\nc"), "a\r\nb\r\nc\r\n");
  // Counting across chunk boundaries.
  EXPECT_EQ(lone_lf_count("\nx\n", '\r'), 1u);
  EXPECT_EQ(lone_lf_count("\nx\n", 'a'), 2u);
}

TEST(MaildirNames, SizeFields) {
  struct Case {
    std::string name;
    std::optional<std::uint64_t> s, w;
  };
  const Case cases[] = {
      {"1700000000.M1P2Q3.host,S=120,W=125", 120, 125},
      {"1700000000.M1P2Q3.host,S=120,W=125:2,S", 120, 125},
      {"1700000000.M1P2Q3.host,W=125,S=120:2,", 120, 125},
      {"1700000000.M1P2Q3.host,S=120", 120, std::nullopt},
      {"1700000000.M1P2Q3.host", std::nullopt, std::nullopt},
      {"1700000000.M1P2Q3.host:2,S=5", std::nullopt, std::nullopt},  // after ':' is flags
      {"1700000000.host,S=,W=x", std::nullopt, std::nullopt},
      {"1700000000.host,S=12x,W=99999999999999999999999", std::nullopt, std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(size_field(c.name, 'S'), c.s) << c.name;
    EXPECT_EQ(size_field(c.name, 'W'), c.w) << c.name;
  }
}

TEST(MaildirNames, Uids) {
  struct Case {
    std::string name, uid;
  };
  const Case cases[] = {
      {"1700000000.M000001P2Q3.host,S=1,W=2", "1700000000.M000001P2Q3.host"},
      {"1700000000.M000001P2Q3.host,S=1,W=2:2,S", "1700000000.M000001P2Q3.host"},
      {"1700000000.M000001P2Q3.host:2,S", "1700000000.M000001P2Q3.host"},
      {"plain", "plain"},
  };
  for (const auto& c : cases) EXPECT_EQ(uid_for(c.name), c.uid);
  // Not valid as a UIDL: hashed, stable, valid.
  for (std::string bad : {std::string(71, 'a'), std::string("with space"), std::string("\xe9t\xe9"),
                          std::string(",S=1")}) {
    auto u = uid_for(bad);
    EXPECT_EQ(u, uid_for(bad));
    EXPECT_EQ(u.size(), 17u) << u;
    EXPECT_EQ(u[0], 'X');
    EXPECT_TRUE(std::all_of(u.begin(), u.end(), [](char c) { return c > 0x20 && c < 0x7f; }));
  }
  EXPECT_EQ(uid_for(std::string(70, 'a')), std::string(70, 'a'));
  EXPECT_NE(hashed_uid("a"), hashed_uid("b"));
}

TEST(MaildirNames, SanitizeHost) {
  EXPECT_EQ(sanitize_host("mail.example.test", 70), "mail.example.test");
  EXPECT_EQ(sanitize_host("a/b:c,d\\e f", 70), "a\\057b\\072c\\054d\\134e\\040f");
  EXPECT_EQ(sanitize_host("abcdef", 3), "abc");
  EXPECT_EQ(sanitize_host("a/b", 3), "a");  // never cut inside an escape
}

TEST(MaildirNames, SeenFlag) {
  EXPECT_EQ(with_seen_flag("1.M1P1Q1.h,S=1,W=2"), "1.M1P1Q1.h,S=1,W=2:2,S");
  EXPECT_EQ(with_seen_flag("1.h:2,"), "1.h:2,S");
  EXPECT_EQ(with_seen_flag("1.h:2,RF"), "1.h:2,FRS");
  EXPECT_EQ(with_seen_flag("1.h:2,FS"), "1.h:2,FS");
}

TEST(MaildirNames, OlderFirst) {
  std::vector<std::string> v = {"foreign",      "1700000010.a", "999999999.z",
                                "1700000009.b", "1700000010.0", "abc"};
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return older_first(a, b); });
  EXPECT_EQ(v, (std::vector<std::string>{"999999999.z", "1700000009.b", "1700000010.0",
                                         "1700000010.a", "abc", "foreign"}));
}

}  // namespace
}  // namespace tegami::maildir
