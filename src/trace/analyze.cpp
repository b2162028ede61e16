// Hops, delays, clock skew, chain consistency and origin (report.hpp).
#include <algorithm>

#include "mail/ascii.hpp"
#include "mail/charset.hpp"
#include "mail/header_address.hpp"
#include "mail/ip.hpp"
#include "mail/rfc2047.hpp"
#include "trace/report.hpp"
#include "trace/verdict.hpp"

namespace tegami::trace {

namespace {

using mail::iequals;

std::string norm_host(std::string_view h) {
  std::string s = mail::to_lower(mail::trim(h));
  if (s.size() > 1 && s.back() == '.') s.pop_back();
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  return s;
}

// The registrable part of a host name, approximated without a public suffix
// list: the last two labels, or three under a two-letter TLD whose second
// label is a common second-level ("co.jp", "ac.uk", "com.br").
std::string organisation(std::string_view host) {
  std::string h = norm_host(host);
  if (h.empty() || mail::normalize_ip(h)) return "";
  std::vector<std::size_t> dots;
  for (std::size_t i = 0; i < h.size(); ++i)
    if (h[i] == '.') dots.push_back(i);
  if (dots.empty()) return "";
  std::size_t n = dots.size();
  std::string tld = h.substr(dots[n - 1] + 1);
  std::string second =
      h.substr(n >= 2 ? dots[n - 2] + 1 : 0, dots[n - 1] - (n >= 2 ? dots[n - 2] + 1 : 0));
  static constexpr std::string_view kSecond[] = {"co", "ac", "ne",  "or",  "go",  "ad",  "ed",
                                                 "gr", "lg", "com", "net", "org", "gov", "edu"};
  bool three = tld.size() == 2 &&
               std::find(std::begin(kSecond), std::end(kSecond), second) != std::end(kSecond);
  if (three) return n >= 3 ? h.substr(dots[n - 3] + 1) : h;
  return n >= 2 ? h.substr(dots[n - 2] + 1) : h;
}

bool names_match(std::string_view a, std::string_view b) {
  std::string x = norm_host(a), y = norm_host(b);
  if (x.empty() || y.empty()) return false;
  if (x == y) return true;
  // One side unqualified ("mx1" and "mx1.example.com").
  std::string xf = x.substr(0, x.find('.')), yf = y.substr(0, y.find('.'));
  if ((x.find('.') == std::string::npos || y.find('.') == std::string::npos) && xf == yf)
    return true;
  std::string ox = organisation(x), oy = organisation(y);
  return !ox.empty() && ox == oy;
}

bool uncheckable_receiver(const mail::Received& prev) {
  std::string by = norm_host(prev.by_host);
  if (by.empty()) return true;
  // A receiver named only by an internal address (Gmail's "by 2002:a17:...").
  return mail::normalize_ip(by).has_value() && !prev.has_from;
}

// How hop `cur` links to `prev` (cur's sender should be prev's receiver).
enum class Link { kVerified, kClaimOnly, kBreak };

// Addresses and verified (rDNS) names link hops. A HELO name is the
// client's claim: from a non-public address (an internal network) or when no
// address was recorded it links as well; from a public address whose
// verified identity does not match it links only as a claim, which leaves
// the hops below unverified (a forger controls both the HELO and the fake
// Received: fields below it).
Link link(const mail::Received& prev, const mail::Received& cur) {
  if (!cur.has_from || (cur.helo.empty() && cur.from_host.empty() && cur.from_ip.empty()))
    return Link::kVerified;
  if (uncheckable_receiver(prev)) return Link::kVerified;
  if (!cur.from_ip.empty() && mail::is_loopback_ip(cur.from_ip)) return Link::kVerified;
  // A local pseudo-hop ("from user@host by scanner by uid 89"): nothing to check.
  if (cur.from_ip.empty() && cur.helo.find('@') != std::string::npos) return Link::kVerified;
  if (iequals(norm_host(cur.helo), "localhost") || iequals(cur.from_host, "localhost"))
    return Link::kVerified;
  if (!cur.from_ip.empty() && (cur.from_ip == prev.by_ip || cur.from_ip == norm_host(prev.by_host)))
    return Link::kVerified;
  if (!cur.from_host.empty() && !cur.rdns_may_be_forged && names_match(cur.from_host, prev.by_host))
    return Link::kVerified;
  if (names_match(cur.helo, prev.by_host))
    return cur.from_ip.empty() || !mail::is_public_ip(cur.from_ip) ? Link::kVerified
                                                                   : Link::kClaimOnly;
  return Link::kBreak;
}

std::string describe_sender(const mail::Received& r) {
  std::string name = !r.from_host.empty() ? r.from_host : r.helo;
  if (!r.from_ip.empty()) return name.empty() ? r.from_ip : name + " [" + r.from_ip + "]";
  return name.empty() ? "an unnamed host" : name;
}

// Delays and skew: the longest run of hops whose times never go backwards
// (header order) is the route's clock; hops off that run are clock skew, so
// that one wrong clock neither hides the real delays nor inflates the next
// hop's delay (the "17998 seconds" failure of other analyzers). The Date:
// field is the run's optional start; hop 1 earlier than Date: is skew too.
void compute_times(Report& rep) {
  struct Point {
    int hop;  // 0 = the Date: field
    std::chrono::sys_seconds t;
  };
  std::vector<Point> pts;
  if (rep.message.date_parsed) pts.push_back({0, rep.message.date_parsed->utc});
  for (const auto& h : rep.hops)
    if (h.time) pts.push_back({h.index, *h.time});
  if (pts.empty()) return;

  // Longest non-decreasing subsequence; ties prefer later hops (closer to
  // the receiving end, whose Received: fields are the most trustworthy).
  std::size_t n = pts.size();
  std::vector<int> len(n, 1), pred(n, -1);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (pts[j].t <= pts[i].t && len[j] + 1 >= len[i]) {
        len[i] = len[j] + 1;
        pred[i] = static_cast<int>(j);
      }
  std::size_t best = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (len[i] >= len[best]) best = i;
  std::vector<bool> on_route(n, false);
  for (int i = static_cast<int>(best); i >= 0; i = pred[i]) on_route[i] = true;

  std::optional<std::chrono::sys_seconds> last_route;
  std::optional<std::chrono::sys_seconds> first_route_hop;
  for (std::size_t i = 0; i < n; ++i) {
    const Point& p = pts[i];
    if (p.hop == 0) {
      if (on_route[i]) last_route = p.t;
      continue;
    }
    Hop& h = rep.hops[p.hop - 1];
    if (on_route[i]) {
      if (last_route) {
        long long d = (p.t - *last_route).count();
        h.delay_seconds = d;
      } else if (p.hop == 1 && rep.message.date_parsed) {
        // Date: is later than hop 1: the sender's clock or hop 1's is wrong.
        h.clock_skew = true;
        h.skew_seconds = (p.t - rep.message.date_parsed->utc).count();
      }
      if (!first_route_hop) first_route_hop = p.t;
      last_route = p.t;
    } else {
      // Off the route: its offset from the next hop on the route (the
      // receiving side, whose clock the route trusts), else from the last.
      h.clock_skew = true;
      std::optional<std::chrono::sys_seconds> ref;
      for (std::size_t k = i + 1; k < n && !ref; ++k)
        if (on_route[k]) ref = pts[k].t;
      if (!ref) ref = last_route;
      if (!ref && rep.message.date_parsed) ref = rep.message.date_parsed->utc;
      if (ref) h.skew_seconds = (p.t - *ref).count();
    }
  }
  for (const auto& h : rep.hops)
    if (h.clock_skew) rep.clock_skew.push_back(h.index);

  // Total: the last dated hop on the route minus Date: (or the first hop).
  if (last_route) {
    if (rep.message.date_parsed && *last_route >= rep.message.date_parsed->utc) {
      rep.total_seconds = (*last_route - rep.message.date_parsed->utc).count();
    } else if (first_route_hop) {
      rep.total_seconds = (*last_route - *first_route_hop).count();
      if (rep.message.date_parsed)
        rep.notes.push_back(
            "the Date: field is later than the route's last hop; the total is "
            "counted from the first hop");
    }
  }
  long long slowest = 0;
  for (const auto& h : rep.hops)
    if (h.delay_seconds && *h.delay_seconds > slowest) {
      slowest = *h.delay_seconds;
      rep.slowest_hop = h.index;
    }
}

void check_chain(Report& rep) {
  int highest = 0;  // the highest hop whose link below is not verified
  for (std::size_t i = 1; i < rep.hops.size(); ++i) {
    Hop& cur = rep.hops[i];
    const Hop& prev = rep.hops[i - 1];
    Link l = link(prev.rx, cur.rx);
    if (l == Link::kVerified) continue;
    highest = cur.index;
    if (l == Link::kClaimOnly) continue;
    cur.chain_break = true;
    rep.notes.push_back(
        "chain break at hop " + std::to_string(cur.index) + ": it came from " +
        describe_sender(cur.rx) + ", but hop " + std::to_string(prev.index) +
        " says it was received by " +
        (prev.rx.by_host.empty() ? std::string("an unnamed host") : prev.rx.by_host));
  }
  if (highest > 0) {
    for (auto& h : rep.hops)
      if (h.index < highest) h.unverified = true;
    rep.notes.push_back(highest == 2
                            ? "hop 1 is an unverified claim (written before the message "
                              "reached a server whose identity the next hop confirms)"
                            : "hops 1-" + std::to_string(highest - 1) +
                                  " are unverified claims (written before the message "
                                  "reached a server whose identity the next hop confirms)");
  }
}

void find_origin(Report& rep) {
  const Hop* pick = nullptr;
  for (const auto& h : rep.hops)
    if (!h.rx.from_ip.empty() && mail::is_public_ip(h.rx.from_ip)) {
      pick = &h;
      break;
    }
  if (!pick)
    for (const auto& h : rep.hops)
      if (!h.rx.from_ip.empty()) {
        pick = &h;
        break;
      }
  if (!pick) return;
  Origin o;
  o.ip = pick->rx.from_ip;
  o.host = !pick->rx.from_host.empty() ? pick->rx.from_host : pick->rx.helo;
  o.hop = pick->index;
  rep.origin = o;
}

void read_message_info(const mail::MessageHeader& h, Report& rep) {
  auto& m = rep.message;
  // Raw 8-bit header text is most likely in the charset the body declares
  // (what mail readers assume too).
  std::string fallback;
  if (auto ct = h.find("Content-Type")) {
    std::string v = mail::to_lower(ct->value);
    std::size_t p = v.find("charset=");
    if (p != std::string::npos) {
      std::string_view cs = std::string_view(ct->value).substr(p + 8);
      if (!cs.empty() && cs.front() == '"') cs.remove_prefix(1);
      std::size_t e = cs.find_first_of("\"; \t");
      fallback = std::string(cs.substr(0, e));
    }
  }
  if (auto f = h.find("From")) {
    m.from = mail::decode_rfc2047(f->value, fallback);
    m.from_domain = mail::first_address(f->value).domain;
  } else {
    rep.problems.push_back("no From: field");
  }
  if (auto f = h.find("Subject")) m.subject = mail::decode_rfc2047(f->value, fallback);
  if (auto f = h.find("Message-ID")) m.message_id = mail::raw_to_utf8(f->value);
  if (auto f = h.find("Return-Path")) m.return_path_domain = mail::first_address(f->value).domain;
  if (auto f = h.find("Date")) {
    m.date_parsed = mail::parse_date(f->value);
    if (m.date_parsed) {
      m.date = mail::format_rfc3339(*m.date_parsed);
      if (m.date_parsed->zone_missing)
        rep.problems.push_back("Date: has no time zone; taken as UTC");
    } else {
      rep.problems.push_back("unreadable Date: '" + mail::raw_to_utf8(f->value) + "'");
    }
  } else {
    rep.problems.push_back("no Date: field");
  }
}

}  // namespace

Report analyze(const mail::MessageHeader& header, const Options& options) {
  Report rep;
  for (const auto& p : header.problems) rep.problems.push_back(p);
  read_message_info(header, rep);

  auto fields = header.find_all("Received");
  int index = 0;
  for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
    Hop h;
    h.index = ++index;
    h.raw = (*it)->value;
    h.line = (*it)->line;
    h.rx = mail::parse_received(h.raw);
    if (h.rx.date) {
      h.time = h.rx.date->utc;
      if (h.rx.date->zone_missing) h.rx.problems.push_back("date has no time zone; taken as UTC");
    }
    for (const auto& p : h.rx.problems)
      rep.problems.push_back("hop " + std::to_string(h.index) + ": " + mail::raw_to_utf8(p));
    rep.hops.push_back(std::move(h));
  }
  if (rep.hops.empty()) rep.problems.push_back("no Received: fields");

  compute_times(rep);
  check_chain(rep);
  find_origin(rep);
  judge(header, options, rep);
  return rep;
}

}  // namespace tegami::trace
