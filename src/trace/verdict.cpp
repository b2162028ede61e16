#include "trace/verdict.hpp"

#include <algorithm>

#include "mail/ascii.hpp"
#include "mail/auth_results.hpp"
#include "mail/header_address.hpp"

namespace tegami::trace {

namespace {

// Maps an RFC 8601 result to the values of the JSON contract.
std::string contract_result(const std::string& method, std::string r) {
  if (r == "hardfail") r = "fail";
  static constexpr std::string_view kKnown[] = {"pass", "fail",      "softfail", "neutral",
                                                "none", "temperror", "permerror"};
  if (std::find(std::begin(kKnown), std::end(kKnown), r) != std::end(kKnown)) {
    if (r == "softfail" && method != "spf") return "fail";
    return r;
  }
  if (r == "policy") return "fail";  // RFC 8601 2.7.1: verified, but rejected by local policy
  return "neutral";
}

std::string domain_of(std::string_view v) {
  std::string d = mail::to_lower(mail::trim(v));
  std::size_t at = d.rfind('@');
  if (at != std::string::npos) d = d.substr(at + 1);
  if (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

// The property naming the domain a result is about, per method.
std::string subject_domain(const mail::AuthResult& r) {
  if (r.method == "spf") {
    std::string d = r.property("smtp.mailfrom");
    if (d.empty()) d = r.property("smtp.helo");
    return domain_of(d);
  }
  if (r.method == "dkim") {
    std::string d = r.property("header.d");
    if (d.empty()) d = r.property("header.i");
    return domain_of(d);
  }
  if (r.method == "dmarc") return domain_of(r.property("header.from"));
  return "";
}

void read_auth(const mail::MessageHeader& header, const Options& options, Report& rep) {
  bool have[3] = {};
  std::string* slots[3] = {&rep.auth.spf, &rep.auth.dkim, &rep.auth.dmarc};
  static constexpr std::string_view kMethods[3] = {"spf", "dkim", "dmarc"};
  const std::string& from_domain = rep.message.from_domain;
  bool dkim_pass_for_from = false;
  std::vector<std::string> failures;

  for (const auto* f : header.find_all("Authentication-Results")) {
    auto ar = mail::parse_auth_results(f->value);
    bool trusted =
        std::find(options.trusted_authserv_ids.begin(), options.trusted_authserv_ids.end(),
                  ar.authserv_id) != options.trusted_authserv_ids.end();
    if (!trusted) continue;
    for (const auto& r : ar.results) {
      for (int m = 0; m < 3; ++m) {
        if (r.method != kMethods[m]) continue;
        std::string value = contract_result(r.method, r.result);
        // The topmost trusted field speaks first; a later DKIM pass wins over
        // a fail (a message may carry several signatures).
        if (!have[m] || (m == 1 && value == "pass")) *slots[m] = value;
        have[m] = true;
        std::string about = subject_domain(r);
        bool for_from = about.empty() || from_domain.empty() || about == from_domain;
        if (m == 1 && value == "pass" && for_from) dkim_pass_for_from = true;
        if (r.result == "fail" && for_from)
          failures.push_back(std::string(kMethods[m]) + "=fail" +
                             (about.empty() ? "" : " for " + about) +
                             " (Authentication-Results "
                             "from " +
                             ar.authserv_id + ")");
      }
    }
  }
  for (const auto& f : failures) {
    if (f.starts_with("dkim") && dkim_pass_for_from) continue;
    rep.verdict.spoofing_suspected = true;
    rep.verdict.reasons.push_back(f);
  }
}

std::string sender_words(const Hop& h) {
  std::string s = h.rx.from_ip.empty() ? "an unknown address" : h.rx.from_ip;
  std::string name = !h.rx.from_host.empty() ? h.rx.from_host : h.rx.helo;
  if (!name.empty() && name != h.rx.from_ip) s += " (" + name + ")";
  return s;
}

void judge_own_domain(const Options& options, Report& rep) {
  const auto& own = options.own;
  std::string claimed;
  if (own.is_own_domain(rep.message.from_domain)) {
    claimed = "From claims " + rep.message.from_domain;
  } else if (own.is_own_domain(rep.message.return_path_domain)) {
    claimed = "Return-Path claims " + rep.message.return_path_domain;
  } else {
    return;
  }
  if (rep.hops.empty()) {
    rep.verdict.spoofing_suspected = true;
    rep.verdict.reasons.push_back(claimed +
                                  ", but the message has no Received: fields to show "
                                  "that it entered through one of our relays");
    return;
  }
  // The entry hop: the origin, unless it sits below a chain break.
  const Hop* entry = nullptr;
  if (rep.origin) entry = &rep.hops[rep.origin->hop - 1];
  if (!entry || entry->unverified) {
    const Hop* lowest_verified = nullptr;
    for (const auto& h : rep.hops)
      if (!h.unverified) {
        lowest_verified = &h;
        break;
      }
    if (entry && lowest_verified)
      rep.notes.push_back("the origin (hop " + std::to_string(entry->index) +
                          ") is an unverified claim; the verdict uses hop " +
                          std::to_string(lowest_verified->index));
    entry = lowest_verified ? lowest_verified : &rep.hops.front();
  }
  const auto& rx = entry->rx;
  bool by_ours = own.is_own_host(rx.by_host) || own.is_own_ip(rx.by_ip);
  bool sender_ours =
      own.is_own_ip(rx.from_ip) || (!rx.rdns_may_be_forged && own.matches_relay_glob(rx.from_host));
  bool authenticated = rx.authenticated.value_or(false);
  if (by_ours && (sender_ours || authenticated)) return;

  std::string at = rx.by_host.empty() ? "an unnamed server" : rx.by_host;
  std::string why;
  if (!by_ours) {
    why = claimed + ", but the message entered at " + at + ", which is not one of our relays" +
          " (from " + sender_words(*entry) + ", hop " + std::to_string(entry->index) + ")";
  } else {
    why = claimed + ", but the message entered at " + at + " from " + sender_words(*entry) +
          " without authentication";
  }
  rep.verdict.spoofing_suspected = true;
  rep.verdict.reasons.push_back(why);
}

}  // namespace

void judge(const mail::MessageHeader& header, const Options& options, Report& rep) {
  judge_own_domain(options, rep);
  read_auth(header, options, rep);
}

}  // namespace tegami::trace
