// Date parsing and formatting for header fields.
//
// parse_date() reads RFC 5322 section 3.3 dates and the forms real mail
// carries besides: the obsolete syntax of section 4.3 (two- and three-digit
// years, zone names, military zones, comments anywhere), asctime
// ("Sun Nov 13 14:50:12 2005"), ISO 8601 / RFC 3339 and Go's
// time.String() ("2018-04-22 02:54:17.028704749 +0000 UTC m=+5.7"),
// fractional seconds, a zone glued to the time ("17:40:44-0500"), and text
// after the date (ignored once the date is complete).
//
// Invariants: the result is an instant in UTC plus how its zone was written;
// `-0000` and military zones (RFC 5322 4.3: their meaning is unknowable) give
// offset 0 with `zone_unknown`; a missing zone gives offset 0 with
// `zone_missing`. Fractions of a second are dropped; years outside
// [1900, 2200) are rejected. Never throws.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tegami::mail {

struct DateTime {
  std::chrono::sys_seconds utc{};  // the instant
  int offset_minutes = 0;          // east of UTC, as written
  bool zone_missing = false;       // no zone at all: taken as UTC
  bool zone_unknown = false;       // -0000, a military letter: taken as UTC
};

std::optional<DateTime> parse_date(std::string_view text);

// "2019-01-07T13:36:12Z" (RFC 3339, UTC).
std::string format_rfc3339_utc(std::chrono::sys_seconds t);
// RFC 3339 in the zone the date was written in; "-00:00" when the zone is
// missing or unknown (RFC 3339 section 4.3 gives it exactly that meaning).
std::string format_rfc3339(const DateTime& d);

// "Mon, 7 Jan 2019 05:36:12 +0000" (RFC 5322 3.3), at `offset_minutes` east
// of UTC: the form the SMTP server writes in Received: and Date:.
std::string format_rfc5322_date(std::chrono::system_clock::time_point t, int offset_minutes = 0);

}  // namespace tegami::mail
