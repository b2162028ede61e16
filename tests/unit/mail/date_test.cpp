// Dates table: RFC 5322, its obsolete forms, asctime, ISO 8601, Go, zones.
#include "mail/date.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace tegami::mail {
namespace {

using namespace std::chrono;

struct Case {
  const char* in;
  const char* utc;  // expected instant, or nullptr when it must not parse
  int offset;
  bool missing;
  bool unknown;
};

const Case kCases[] = {
    {"Fri, 14 Nov 2003 09:05:49 +0100", "2003-11-14T08:05:49Z", 60, false, false},
    {"Fri, 14 Nov 2003 09:05:49 +0100 (CET)", "2003-11-14T08:05:49Z", 60, false, false},
    {"Mon,  6 Jul 2015 09:01:20 +0000 (UTC)", "2015-07-06T09:01:20Z", 0, false, false},
    {"14 Nov 2003 08:05:52 -0000", "2003-11-14T08:05:52Z", 0, false, true},
    {"Thu, 6 Dec 2001 23:58:04 GMT", "2001-12-06T23:58:04Z", 0, false, false},
    {"Thu, 6 Dec 2001 23:58:04 UT", "2001-12-06T23:58:04Z", 0, false, false},
    {"Tue, 10 Feb 2004 10:14:01 PST", "2004-02-10T18:14:01Z", -480, false, false},
    {"Tue, 10 Feb 2004 10:14:01 EDT", "2004-02-10T14:14:01Z", -240, false, false},
    {"Sat, 28 Nov 2026 09:14:10 JST", "2026-11-28T00:14:10Z", 540, false, false},
    {"Sat, 28 Nov 2026 09:14:10 +0900", "2026-11-28T00:14:10Z", 540, false, false},
    {"Sat, 28 Nov 26 09:14:10 +0900", "2026-11-28T00:14:10Z", 540, false, false},  // 2-digit
    {"Sat, 28 Nov 99 09:14:10 +0900", "1999-11-28T00:14:10Z", 540, false, false},
    {"Sat, 28 Nov 103 09:14:10 +0900", "2003-11-28T00:14:10Z", 540, false, false},  // 3-digit
    {"Mon, 1 Jan 2018 17:40:44-0500", "2018-01-01T22:40:44Z", -300, false, false},
    {"Sun Nov 13 14:50:12 2005", "2005-11-13T14:50:12Z", 0, true, false},  // asctime
    {"Sun Nov 13 14:50:12 EST 2005", "2005-11-13T19:50:12Z", -300, false, false},
    {"2018-04-22 02:54:17.028704749 +0000 UTC", "2018-04-22T02:54:17Z", 0, false, false},
    {"2018-04-22 02:54:17.028704749 +0000 UTC m=+555016.724468750", "2018-04-22T02:54:17Z", 0,
     false, false},
    {"2018-04-22T02:54:17Z", "2018-04-22T02:54:17Z", 0, false, false},
    {"2018-04-22T11:54:17+09:00", "2018-04-22T02:54:17Z", 540, false, false},
    {"Sun, 22 Apr 2018 02:54:16.987 +0000 (UTC)", "2018-04-22T02:54:16Z", 0, false, false},
    {"Sun, 22 Apr 2018 02:54:16", "2018-04-22T02:54:16Z", 0, true, false},
    {"Sun, 22 Apr 2018 02:54 +0000", "2018-04-22T02:54:00Z", 0, false, false},  // no seconds
    {"Sun, 22 Apr 2018 02:54:16 Z", "2018-04-22T02:54:16Z", 0, false, false},
    {"Sun, 22 Apr 2018 02:54:16 A", "2018-04-22T02:54:16Z", 0, false, true},  // military
    {"Sun, 22 Apr 2018 02:54:16 (JST)", "2018-04-21T17:54:16Z", 540, false, false},
    {"Thu, 10 Nov 2005 08:24:21 -0600 id 000000DB.43735815.00001E11", "2005-11-10T14:24:21Z", -360,
     false, false},
    {"Wed, 31 Dec 2008 23:59:60 +0000", "2009-01-01T00:00:00Z", 0, false, false},  // leap s.
    {"Thu,\n 1 Jan 2015 10:00:00 +0100", "2015-01-01T09:00:00Z", 60, false, false},
    {"1 January 2015 10:00:00 +0100", "2015-01-01T09:00:00Z", 60, false, false},
    {"22 Apr 2018", nullptr, 0, false, false},
    {"", nullptr, 0, false, false},
    {"yesterday", nullptr, 0, false, false},
    {"31 Feb 2018 10:00:00 +0000", nullptr, 0, false, false},
    {"Mon, 1 Jan 2018 25:00:00 +0000", nullptr, 0, false, false},
    {"Mon, 1 Foo 2018 10:00:00 +0000", nullptr, 0, false, false},
};

TEST(Date, Table) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.in);
    auto d = parse_date(c.in);
    if (!c.utc) {
      EXPECT_FALSE(d.has_value());
      continue;
    }
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(format_rfc3339_utc(d->utc), c.utc);
    EXPECT_EQ(d->offset_minutes, c.offset);
    EXPECT_EQ(d->zone_missing, c.missing);
    EXPECT_EQ(d->zone_unknown, c.unknown);
  }
}

TEST(Date, Rfc3339KeepsTheWrittenZone) {
  EXPECT_EQ(format_rfc3339(*parse_date("Fri, 14 Nov 2003 09:05:49 +0100")),
            "2003-11-14T09:05:49+01:00");
  EXPECT_EQ(format_rfc3339(*parse_date("Fri, 14 Nov 2003 09:05:49 -0330")),
            "2003-11-14T09:05:49-03:30");
  EXPECT_EQ(format_rfc3339(*parse_date("Fri, 14 Nov 2003 09:05:49 +0000")), "2003-11-14T09:05:49Z");
  EXPECT_EQ(format_rfc3339(*parse_date("Fri, 14 Nov 2003 09:05:49 -0000")),
            "2003-11-14T09:05:49-00:00");
  EXPECT_EQ(format_rfc3339(*parse_date("Fri, 14 Nov 2003 09:05:49")), "2003-11-14T09:05:49-00:00");
}

TEST(Date, Rfc5322Formatter) {
  sys_seconds t = sys_days{year{2019} / 1 / 7} + hours{13} + minutes{36} + seconds{12};
  EXPECT_EQ(format_rfc5322_date(t), "Mon, 7 Jan 2019 13:36:12 +0000");
  EXPECT_EQ(format_rfc5322_date(t, -480), "Mon, 7 Jan 2019 05:36:12 -0800");
  EXPECT_EQ(format_rfc5322_date(t, 570), "Mon, 7 Jan 2019 23:06:12 +0930");
  auto back = parse_date(format_rfc5322_date(t, -480));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->utc, t);
}

TEST(Date, SplitInputNeverCrashes) {
  std::string s = "Sun, 22 Apr 2018 02:54:16.987 +0000 (UTC) m=+1.5";
  for (std::size_t i = 0; i <= s.size(); ++i) {
    (void)parse_date(s.substr(0, i));
    (void)parse_date(s.substr(i));
  }
  (void)parse_date("((((((((");
  (void)parse_date("99999999999999999999:99999999999:9999999999");
  (void)parse_date("+99999 -99999 ----- ++++ 1:");
}

}  // namespace
}  // namespace tegami::mail
