#include <time.h>

#include <cstdio>
#include <string>

#include "mail/charset.hpp"
#include "mail/date.hpp"
#include "trace/render.hpp"

namespace tegami::trace {

namespace {

using namespace std::chrono;

std::string clean(const std::string& s) {
  // One line per value: control characters would break the table.
  std::string out = mail::sanitize_utf8(s);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  return out;
}

std::string pad(std::string s, std::size_t width) {
  // Width in code points, so UTF-8 names line up as well as they can.
  std::size_t cps = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++cps;
  if (cps < width) s.append(width - cps, ' ');
  return s;
}

std::string local_time(sys_seconds t, int offset) {
  std::string s = mail::format_rfc3339_utc(t + minutes{offset});
  s[10] = ' ';
  s.pop_back();
  char zone[16];
  int m = offset < 0 ? -offset : offset;
  std::snprintf(zone, sizeof zone, " %c%02d%02d", offset < 0 ? '-' : '+', m / 60, m % 60);
  return s + zone;
}

std::string utc_clock(sys_seconds t) {
  return mail::format_rfc3339_utc(t).substr(11, 8);
}

std::string sender(const Hop& h) {
  std::string name = !h.rx.from_host.empty() ? h.rx.from_host : h.rx.helo;
  if (!h.rx.from_ip.empty() && name != h.rx.from_ip)
    return name.empty() ? h.rx.from_ip : name + " [" + h.rx.from_ip + "]";
  if (!name.empty()) return name;
  return h.rx.has_from ? "?" : "(local)";
}

std::string yes_no(const std::optional<bool>& b) {
  if (!b) return "?";
  return *b ? "yes" : "no";
}

}  // namespace

int system_local_offset(sys_seconds t) {
  time_t tt = static_cast<time_t>(t.time_since_epoch().count());
  struct tm tmv {};
  if (!localtime_r(&tt, &tmv)) return 0;
  return static_cast<int>(tmv.tm_gmtoff / 60);
}

std::string human_duration(long long s) {
  std::string sign = s < 0 ? "-" : "";
  unsigned long long v = s < 0 ? static_cast<unsigned long long>(-(s + 1)) + 1 : s;
  char buf[64];
  if (v < 60) {
    std::snprintf(buf, sizeof buf, "%llus", v);
  } else if (v < 3600) {
    std::snprintf(buf, sizeof buf, "%llum %02llus", v / 60, v % 60);
  } else if (v < 86400) {
    std::snprintf(buf, sizeof buf, "%lluh %02llum", v / 3600, v % 3600 / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%llud %02lluh", v / 86400, v % 86400 / 3600);
  }
  return sign + buf;
}

std::string render_text(const Traced& item, const TextOptions& opts) {
  const Report& r = item.report;
  auto offset_of = [&](sys_seconds t) {
    return opts.local_offset ? opts.local_offset(t) : system_local_offset(t);
  };
  std::string out;
  if (!item.source.empty()) out += "== " + clean(item.source) + "\n";
  out += "Subject:    " + (r.message.subject ? clean(*r.message.subject) : "(none)") + "\n";
  out += "From:       " + (r.message.from ? clean(*r.message.from) : "(none)") + "\n";
  out += "Date:       " + (r.message.date ? *r.message.date : "(none)") + "\n";
  if (r.message.message_id) out += "Message-ID: " + clean(*r.message.message_id) + "\n";
  out += "\n";

  if (r.hops.empty()) {
    out += "No Received: fields: the route is unknown.\n";
  } else {
    out +=
        "hop  local time                 UTC       delay      protocol   TLS  auth  from -> by\n";
    for (auto it = r.hops.begin(); it != r.hops.end(); ++it) {
      const Hop& h = *it;
      std::string line = pad(std::to_string(h.index), 5);
      if (h.time) {
        line += pad(local_time(*h.time, offset_of(*h.time)), 27) + pad(utc_clock(*h.time), 10);
      } else {
        line += pad("(no date)", 37);
      }
      std::string delay;
      if (h.delay_seconds) {
        delay = "+" + human_duration(*h.delay_seconds);
      } else if (h.clock_skew) {
        delay = "skew";
      } else {
        delay = "-";
      }
      line += pad(delay, 11);
      line += pad(clean(h.rx.with.empty() ? "-" : h.rx.with.substr(0, 10)), 11);
      line += pad(yes_no(h.rx.tls), 5) + pad(yes_no(h.rx.authenticated), 6);
      line += clean(sender(h)) + " -> " + clean(h.rx.by_host.empty() ? "?" : h.rx.by_host);
      if (r.slowest_hop && *r.slowest_hop == h.index) line += "   <- slowest";
      if (h.chain_break) line += "   <- chain break";
      if (h.unverified) line += "   (unverified)";
      out += line + "\n";
    }
  }
  out += "\n";
  if (r.total_seconds) {
    out += "Total:      " + human_duration(*r.total_seconds) + " (" +
           std::to_string(*r.total_seconds) + " s)";
    if (r.slowest_hop) {
      const Hop& s = r.hops[*r.slowest_hop - 1];
      out += "; slowest hop " + std::to_string(s.index) + " (" + human_duration(*s.delay_seconds) +
             ")";
    }
    out += "\n";
  } else {
    out += "Total:      unknown\n";
  }
  for (int idx : r.clock_skew) {
    const Hop& h = r.hops[idx - 1];
    out += "Clock skew: hop " + std::to_string(idx);
    if (h.skew_seconds)
      out += " reads " + human_duration(*h.skew_seconds < 0 ? -*h.skew_seconds : *h.skew_seconds) +
             (*h.skew_seconds < 0 ? " earlier" : " later") + " than the route before it";
    out += "; not counted as a delay\n";
  }
  if (r.origin) {
    out += "Origin:     " + clean(r.origin->ip);
    if (!r.origin->host.empty()) out += " (" + clean(r.origin->host) + ")";
    out += ", hop " + std::to_string(r.origin->hop) + "\n";
  } else {
    out += "Origin:     unknown (no hop recorded an address)\n";
  }
  out += "Auth:       spf=" + r.auth.spf + " dkim=" + r.auth.dkim + " dmarc=" + r.auth.dmarc + "\n";
  out += std::string("Verdict:    ") +
         (r.verdict.spoofing_suspected ? "SPOOFING SUSPECTED" : "no spoofing suspected") + "\n";
  for (const auto& reason : r.verdict.reasons) out += "  - " + clean(reason) + "\n";
  if (!r.notes.empty()) {
    out += "Notes:\n";
    for (const auto& n : r.notes) out += "  - " + clean(n) + "\n";
  }
  if (!r.problems.empty()) {
    out += "Not understood:\n";
    for (const auto& p : r.problems) out += "  - " + clean(p) + "\n";
  }
  return out;
}

}  // namespace tegami::trace
