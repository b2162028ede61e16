#include "mail/date.hpp"

#include <array>
#include <cstdio>

#include "mail/ascii.hpp"

namespace tegami::mail {

namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                      "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 12> kMonthNames = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"Sun", "Mon", "Tue", "Wed",
                                                           "Thu", "Fri", "Sat"};

struct ZoneName {
  std::string_view name;
  int minutes;
};
// RFC 5322 4.3 names first, then names seen in real Received: fields.
// Ambiguous abbreviations (IST, "CST" of China) keep their RFC meaning or are absent.
constexpr ZoneName kZones[] = {
    {"ut", 0},     {"utc", 0},    {"gmt", 0},    {"z", 0},      {"uct", 0},     {"est", -300},
    {"edt", -240}, {"cst", -360}, {"cdt", -300}, {"mst", -420}, {"mdt", -360},  {"pst", -480},
    {"pdt", -420}, {"jst", 540},  {"kst", 540},  {"hkt", 480},  {"sgt", 480},   {"cet", 60},
    {"cest", 120}, {"met", 60},   {"mest", 120}, {"eet", 120},  {"eest", 180},  {"wet", 0},
    {"west", 60},  {"bst", 60},   {"msk", 180},  {"hst", -600}, {"akst", -540}, {"akdt", -480},
    {"aest", 600}, {"aedt", 660}, {"acst", 570}, {"acdt", 630}, {"awst", 480},  {"nzst", 720},
    {"nzdt", 780}, {"ast", -240}, {"adt", -180}, {"nst", -210}, {"ndt", -150},
};

std::optional<int> zone_minutes(std::string_view word) {
  std::string w = to_lower(word);
  for (const auto& z : kZones)
    if (z.name == w) return z.minutes;
  return std::nullopt;
}

std::optional<int> month_index(std::string_view word) {
  if (word.size() < 3) return std::nullopt;
  std::string w = to_lower(word.substr(0, 3));
  for (std::size_t i = 0; i < kMonths.size(); ++i)
    if (kMonths[i] == w) return static_cast<int>(i) + 1;
  return std::nullopt;
}

bool is_weekday(std::string_view word) {
  static constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  if (word.size() < 3) return false;
  std::string w = to_lower(word.substr(0, 3));
  for (auto d : kDays)
    if (d == w) return true;
  return false;
}

struct Scanner {
  std::string_view s;
  std::size_t pos = 0;
  bool at_end() const { return pos >= s.size(); }
  char peek(std::size_t k = 0) const { return pos + k < s.size() ? s[pos + k] : '\0'; }
  // Reads up to `max` digits; returns their value and count.
  std::pair<long, int> digits(int max = 9) {
    long v = 0;
    int n = 0;
    while (!at_end() && is_digit(s[pos])) {
      if (n < max) v = v * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    return {v, n};
  }
  // Skips a parenthesised comment (nested, with quoted pairs); returns its text.
  std::string_view comment() {
    std::size_t begin = pos + 1;
    int depth = 0;
    while (!at_end()) {
      char c = s[pos++];
      if (c == '\\' && !at_end()) {
        ++pos;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')' && --depth == 0) {
        return s.substr(begin, pos - 1 - begin);
      }
    }
    return s.substr(begin);
  }
};

struct Fields {
  int day = -1, month = -1, hour = -1, minute = -1, second = 0;
  long year = -1;
  bool zone_set = false;
  int offset = 0;
  bool zone_unknown = false;
  std::optional<int> comment_zone;
  bool date_complete() const { return day >= 0 && month >= 0 && year >= 0 && hour >= 0; }
};

// hh:mm[:ss[.frac]] at the scanner (first number already read).
bool read_time(Scanner& sc, long first, Fields& f) {
  if (sc.peek() != ':' || !is_digit(sc.peek(1))) return false;
  ++sc.pos;
  auto [mm, nm] = sc.digits(2);
  if (nm > 2) return false;
  long ss = 0;
  if (sc.peek() == ':' && is_digit(sc.peek(1))) {
    ++sc.pos;
    auto [v, n] = sc.digits(2);
    if (n > 2) return false;
    ss = v;
    if ((sc.peek() == '.' || sc.peek() == ',') && is_digit(sc.peek(1))) {
      ++sc.pos;
      sc.digits();  // fraction: dropped
    }
  }
  if (first > 23 || mm > 59 || ss > 60) return false;
  f.hour = static_cast<int>(first);
  f.minute = static_cast<int>(mm);
  f.second = static_cast<int>(ss);
  return true;
}

// "+hhmm", "-hhmm", "+hh:mm", "+hh" after the sign.
bool read_offset(Scanner& sc, Fields& f) {
  char sign = sc.s[sc.pos];
  std::size_t save = sc.pos;
  ++sc.pos;
  auto [v, n] = sc.digits(4);
  long hh = 0, mm = 0;
  if (n == 4) {
    hh = v / 100, mm = v % 100;
  } else if (n == 2 && sc.peek() == ':' && is_digit(sc.peek(1))) {
    hh = v;
    ++sc.pos;
    auto [m2, n2] = sc.digits(2);
    if (n2 != 2) return sc.pos = save, false;
    mm = m2;
  } else if (n == 2 || n == 1) {
    hh = v;
  } else {
    sc.pos = save;
    return false;
  }
  if (hh > 23 || mm > 59) {
    sc.pos = save;
    return false;
  }
  f.zone_set = true;
  f.offset = static_cast<int>((sign == '-' ? -1 : 1) * (hh * 60 + mm));
  f.zone_unknown = sign == '-' && hh == 0 && mm == 0;
  return true;
}

int days_in_month(long y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

std::optional<DateTime> parse_date(std::string_view text) {
  Scanner sc{text};
  Fields f;
  while (!sc.at_end()) {
    if (f.date_complete() && f.zone_set) break;  // the rest is not part of the date
    char c = sc.peek();
    if (c == '(') {
      std::string_view inner = trim(sc.comment());
      if (auto z = zone_minutes(inner)) f.comment_zone = *z;
      continue;
    }
    if (is_alpha(c)) {
      std::size_t b = sc.pos;
      while (!sc.at_end() && is_alpha(sc.peek())) ++sc.pos;
      std::string_view word = text.substr(b, sc.pos - b);
      if (f.month < 0 && f.hour < 0 && month_index(word) && word.size() <= 9) {
        f.month = *month_index(word);
      } else if (f.month >= 0 && f.hour < 0 && f.day < 0 && month_index(word)) {
        // "Nov" after an ISO month: ignore
      } else if (is_weekday(word) && f.hour < 0) {
      } else if (f.hour >= 0 && !f.zone_set && zone_minutes(word)) {
        f.zone_set = true;
        f.offset = *zone_minutes(word);
      } else if (f.hour >= 0 && !f.zone_set && word.size() == 1 && ascii_lower(word[0]) != 'j') {
        f.zone_set = true;  // military zone (RFC 5322 4.3): meaning unknowable
        f.offset = 0;
        f.zone_unknown = true;
      } else if (f.hour >= 0 && f.hour <= 12 && (iequals(word, "am") || iequals(word, "pm"))) {
        if (iequals(word, "pm") && f.hour < 12) f.hour += 12;
        if (iequals(word, "am") && f.hour == 12) f.hour = 0;
      } else if (f.date_complete()) {
        break;  // trailing text ("id ...", "m=+1.2")
      }
      continue;
    }
    if ((c == '+' || c == '-') && is_digit(sc.peek(1))) {
      if (f.hour >= 0 && !f.zone_set && read_offset(sc, f)) continue;
      if (f.date_complete()) break;
      ++sc.pos;
      continue;
    }
    if (is_digit(c)) {
      auto [v, n] = sc.digits();
      if (sc.peek() == ':') {
        if (f.hour < 0 && read_time(sc, v, f)) continue;
        if (f.date_complete()) break;
        continue;
      }
      if (n == 4 && sc.peek() == '-' && is_digit(sc.peek(1)) && f.year < 0) {  // ISO 8601
        ++sc.pos;
        auto [mo, nmo] = sc.digits(2);
        if (nmo <= 2 && sc.peek() == '-' && is_digit(sc.peek(1))) {
          ++sc.pos;
          auto [d, nd] = sc.digits(2);
          if (nd <= 2) {
            f.year = v, f.month = static_cast<int>(mo), f.day = static_cast<int>(d);
            if ((sc.peek() == 'T' || sc.peek() == 't') && is_digit(sc.peek(1))) ++sc.pos;
          }
        }
        continue;
      }
      if (n > 4) {
        if (f.date_complete()) break;
        continue;
      }
      if (f.day < 0 && f.year < 0 && (n <= 2 || (n == 3 && f.month < 0 && v >= 1 && v <= 31))) {
        // "029 Apr 2011": a zero-padded day some mailers write
        f.day = static_cast<int>(v);
      } else if (f.year < 0 && (n >= 3 || (f.day >= 0 && f.month >= 0))) {
        f.year = n == 2 ? (v < 50 ? 2000 + v : 1900 + v) : (n == 3 ? 1900 + v : v);
      } else if (f.day < 0 && n <= 2) {
        f.day = static_cast<int>(v);
      } else if (f.date_complete()) {
        break;
      }
      continue;
    }
    ++sc.pos;  // punctuation, whitespace, 8-bit bytes
  }

  if (!f.date_complete() || f.minute < 0) return std::nullopt;
  // Years outside [1900, 2200) are garbage in mail, and beyond 2262 an instant
  // no longer fits system_clock's nanoseconds.
  if (f.month < 1 || f.month > 12 || f.year < 1900 || f.year >= 2200) return std::nullopt;
  if (f.day < 1 || f.day > days_in_month(f.year, f.month)) return std::nullopt;

  DateTime d;
  if (!f.zone_set) {
    if (f.comment_zone) {
      f.zone_set = true;
      f.offset = *f.comment_zone;
    } else {
      d.zone_missing = true;
    }
  }
  d.offset_minutes = f.offset;
  d.zone_unknown = f.zone_unknown;
  auto ymd = year_month_day{year{static_cast<int>(f.year)}, month{static_cast<unsigned>(f.month)},
                            day{static_cast<unsigned>(f.day)}};
  d.utc = sys_days{ymd} + hours{f.hour} + minutes{f.minute} + seconds{f.second} - minutes{f.offset};
  return d;
}

std::string format_rfc3339_utc(sys_seconds t) {
  auto dp = floor<days>(t);
  year_month_day ymd{dp};
  hh_mm_ss hms{t - dp};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::string format_rfc3339(const DateTime& d) {
  bool unknown = d.zone_missing || d.zone_unknown;
  sys_seconds local = d.utc + minutes{unknown ? 0 : d.offset_minutes};
  std::string s = format_rfc3339_utc(local);
  s.pop_back();  // 'Z'
  if (unknown) return s + "-00:00";
  if (d.offset_minutes == 0) return s + "Z";
  int m = d.offset_minutes < 0 ? -d.offset_minutes : d.offset_minutes;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", d.offset_minutes < 0 ? '-' : '+', m / 60, m % 60);
  return s + buf;
}

std::string format_rfc5322_date(system_clock::time_point t, int offset_minutes) {
  auto local = floor<seconds>(t) + minutes{offset_minutes};
  auto dp = floor<days>(local);
  year_month_day ymd{dp};
  weekday wd{dp};
  hh_mm_ss hms{local - dp};
  int m = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %u %s %04d %02d:%02d:%02d %c%02d%02d",
                kWeekdayNames[wd.c_encoding()].data(), static_cast<unsigned>(ymd.day()),
                kMonthNames[static_cast<unsigned>(ymd.month()) - 1].data(),
                static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                offset_minutes < 0 ? '-' : '+', m / 60, m % 60);
  return buf;
}

}  // namespace tegami::mail
