#include "mailauth/spf.hpp"

#include <algorithm>

#include "mail/ascii.hpp"

namespace tegami::mailauth {

using mail::iends_with;
using mail::iequals;
using mail::to_lower;

std::string_view to_string(SpfResult r) {
  switch (r) {
    case SpfResult::kNone:
      return "none";
    case SpfResult::kNeutral:
      return "neutral";
    case SpfResult::kPass:
      return "pass";
    case SpfResult::kFail:
      return "fail";
    case SpfResult::kSoftFail:
      return "softfail";
    case SpfResult::kTempError:
      return "temperror";
    case SpfResult::kPermError:
      return "permerror";
  }
  return "?";
}

std::string_view to_string(DnsType t) {
  switch (t) {
    case DnsType::kTxt:
      return "TXT";
    case DnsType::kA:
      return "A";
    case DnsType::kAaaa:
      return "AAAA";
    case DnsType::kMx:
      return "MX";
    case DnsType::kPtr:
      return "PTR";
  }
  return "?";
}

namespace {

std::string cut(std::string_view s) {
  return std::string(s.substr(0, SpfCheck::kMaxInput));
}

std::string strip_dot(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

SpfResult result_of(Qualifier q) {
  switch (q) {
    case Qualifier::kPass:
      return SpfResult::kPass;
    case Qualifier::kFail:
      return SpfResult::kFail;
    case Qualifier::kSoftFail:
      return SpfResult::kSoftFail;
    case Qualifier::kNeutral:
      return SpfResult::kNeutral;
  }
  return SpfResult::kNeutral;
}

// The result of one check_host() (§4), before the top level turns it into
// an SpfOutcome.
struct Host {
  SpfResult result = SpfResult::kNeutral;
  std::string mechanism;
  std::string domain;
  std::string explanation;
  std::string problem;
};

// Whether a mechanism matched (§4.6.2), or stopped the check with an error.
struct Match {
  enum Kind { kYes, kNo, kError } kind = kNo;
  SpfResult error = SpfResult::kPermError;
  std::string problem;
  static Match yes() { return Match{kYes}; }
  static Match no() { return Match{kNo}; }
  static Match fail(SpfResult r, std::string why) { return Match{kError, r, std::move(why)}; }
};

// One run of check_host() over the answers known so far. Stops (suspended_)
// at the first question without an answer; every caller of lookup() unwinds
// on nullptr.
class Evaluator {
 public:
  Evaluator(const SpfQuery& q, const std::map<DnsQuestion, DnsAnswer>& answers)
      : q_(q), answers_(answers) {
    base_.sender = q.sender;
    std::size_t at = q.sender.rfind('@');
    base_.local_part = at == std::string::npos ? "postmaster" : q.sender.substr(0, at);
    base_.sender_domain = at == std::string::npos ? q.sender : q.sender.substr(at + 1);
    base_.ip = q.ip;
    base_.helo = q.helo;
    base_.receiver = q.receiver;
    base_.timestamp = q.timestamp;
  }

  // nullopt: suspended on pending().
  std::optional<SpfOutcome> run() {
    Host h = check_host(strip_dot(q_.domain), 0, true);
    if (suspended_) return std::nullopt;
    SpfOutcome out;
    out.result = h.result;
    out.mechanism = std::move(h.mechanism);
    out.domain = std::move(h.domain);
    out.explanation = std::move(h.explanation);
    out.problem = std::move(h.problem);
    out.dns_mechanisms = dns_terms_;
    out.void_lookups = voids_;
    out.questions = questions_;
    return out;
  }
  const DnsQuestion& pending() const { return pending_; }

 private:
  // The answer to (type, name); nullptr when it is not known yet (the run
  // is then suspended) or the question budget is spent (`over_budget_`).
  const DnsAnswer* lookup(DnsType type, const std::string& name) {
    if (suspended_) return nullptr;
    if (++questions_ > SpfCheck::kMaxQuestions) {
      over_budget_ = true;
      return nullptr;
    }
    DnsQuestion question{type, to_lower(name)};
    auto it = answers_.find(question);
    if (it != answers_.end()) return &it->second;
    pending_ = std::move(question);
    suspended_ = true;
    return nullptr;
  }
  // The Match for a lookup() that returned nullptr.
  Match unanswered() const {
    return Match::fail(SpfResult::kPermError,
                       "more than " + std::to_string(SpfCheck::kMaxQuestions) + " DNS questions");
  }

  static bool is_void(const DnsAnswer& a, std::size_t records) {
    return a.rcode == DnsRcode::kNotFound || a.rcode == DnsRcode::kNoData || records == 0;
  }

  // §4.6.4: counted as each term is evaluated, so that terms after the
  // tenth are never looked at unless reached.
  bool count_dns_term() { return ++dns_terms_ <= SpfCheck::kMaxDnsMechanisms; }
  Match too_many_terms() const {
    return Match::fail(SpfResult::kPermError, "more than " +
                                                  std::to_string(SpfCheck::kMaxDnsMechanisms) +
                                                  " DNS-querying mechanisms and redirects");
  }
  bool count_void() { return ++voids_ <= SpfCheck::kMaxVoidLookups; }
  Match too_many_voids() const {
    return Match::fail(SpfResult::kPermError,
                       "more than " + std::to_string(SpfCheck::kMaxVoidLookups) + " void lookups");
  }

  // %{p} (§7.3): a validated name of the client, preferring <domain> itself,
  // then a subdomain of it, then any; "unknown" when none validates.
  std::string validated_name(const std::string& domain) {
    const DnsAnswer* a = lookup(DnsType::kPtr, q_.ip.reverse_name());
    if (!a || a->rcode != DnsRcode::kOk) return "unknown";
    std::vector<std::string> names;
    for (const auto& n : a->names) {
      if (names.size() == SpfCheck::kMaxPtrNames) break;
      names.push_back(strip_dot(n));
    }
    auto rank = [&](const std::string& n) {
      if (iequals(n, domain)) return 0;
      if (iends_with(n, "." + domain)) return 1;
      return 2;
    };
    std::stable_sort(names.begin(), names.end(),
                     [&](const auto& x, const auto& y) { return rank(x) < rank(y); });
    for (const auto& n : names)
      if (validates(n)) return n;
    return "unknown";
  }

  // Whether `name` has an address record equal to the client's (§5.5).
  // DNS errors skip the name.
  bool validates(const std::string& name) {
    if (!valid_dns_name(name)) return false;
    const DnsAnswer* a = lookup(q_.ip.v6 ? DnsType::kAaaa : DnsType::kA, name);
    if (!a || a->rcode != DnsRcode::kOk) return false;
    return std::find(a->addresses.begin(), a->addresses.end(), q_.ip) != a->addresses.end();
  }

  // Expands a checked macro-string; nullopt when too long (or suspended).
  std::optional<std::string> expand(const std::string& spec, MacroValues& mv, MacroMode mode) {
    if (uses_p_macro(spec) && mv.validated.empty()) {
      mv.validated = validated_name(mv.domain);
      if (suspended_) return std::nullopt;
    }
    return expand_macros(spec, mv, mode);
  }

  // The <target-name> of a mechanism (§4.8); nullopt with `m` set on error.
  std::optional<std::string> target(const Mechanism& mech, MacroValues& mv, Match& m) {
    if (mech.domain_spec.empty()) return mv.domain;
    auto t = expand(mech.domain_spec, mv, MacroMode::kDomainSpec);
    if (suspended_) {
      m = Match::no();
      return std::nullopt;
    }
    if (!t) {
      m = Match::fail(SpfResult::kPermError, "macro expansion of \"" + mech.text + "\" too long");
      return std::nullopt;
    }
    return query_name(std::move(*t));
  }

  // An address lookup for a/mx (the client's family: §5, IPv4-mapped is IPv4).
  Match match_addresses(const std::string& name, const Mechanism& mech, bool count_voids) {
    if (!valid_dns_name(name)) {
      // Not a name DNS could hold (an empty or long label): it cannot exist.
      if (count_voids && !count_void()) return too_many_voids();
      return Match::no();
    }
    const DnsAnswer* a = lookup(q_.ip.v6 ? DnsType::kAaaa : DnsType::kA, name);
    if (!a) return suspended_ ? Match::no() : unanswered();
    if (a->rcode == DnsRcode::kTempFail)
      return Match::fail(SpfResult::kTempError, "DNS error looking up " + name);
    if (is_void(*a, a->addresses.size())) {
      if (count_voids && !count_void()) return too_many_voids();
      return Match::no();
    }
    int prefix = q_.ip.v6 ? mech.cidr6 : mech.cidr4;
    for (const auto& addr : a->addresses)
      if (q_.ip.in_network(addr, prefix)) return Match::yes();
    return Match::no();
  }

  Match evaluate(const Mechanism& mech, MacroValues& mv, int depth) {
    Match m;
    switch (mech.kind) {
      case MechanismKind::kAll:
        return Match::yes();
      case MechanismKind::kIp4:
      case MechanismKind::kIp6:
        return q_.ip.in_network(mech.network,
                                mech.kind == MechanismKind::kIp4 ? mech.cidr4 : mech.cidr6)
                   ? Match::yes()
                   : Match::no();
      case MechanismKind::kA: {
        if (!count_dns_term()) return too_many_terms();
        auto name = target(mech, mv, m);
        if (!name) return m;
        return match_addresses(*name, mech, true);
      }
      case MechanismKind::kMx: {
        if (!count_dns_term()) return too_many_terms();
        auto name = target(mech, mv, m);
        if (!name) return m;
        if (!valid_dns_name(*name)) return count_void() ? Match::no() : too_many_voids();
        const DnsAnswer* a = lookup(DnsType::kMx, *name);
        if (!a) return suspended_ ? Match::no() : unanswered();
        if (a->rcode == DnsRcode::kTempFail)
          return Match::fail(SpfResult::kTempError, "DNS error looking up MX of " + *name);
        if (is_void(*a, a->names.size())) return count_void() ? Match::no() : too_many_voids();
        if (a->names.size() > SpfCheck::kMaxMxNames)
          return Match::fail(
              SpfResult::kPermError,
              "more than " + std::to_string(SpfCheck::kMaxMxNames) + " MX records for " + *name);
        for (const auto& exchange : a->names) {
          std::string host = strip_dot(exchange);
          if (host.empty()) continue;  // null MX (RFC 7505)
          Match r = match_addresses(host, mech, false);
          if (suspended_ || r.kind != Match::kNo) return r;
        }
        return Match::no();
      }
      case MechanismKind::kPtr: {
        if (!count_dns_term()) return too_many_terms();
        auto name = target(mech, mv, m);
        if (!name) return m;
        const DnsAnswer* a = lookup(DnsType::kPtr, q_.ip.reverse_name());
        if (!a) return suspended_ ? Match::no() : unanswered();
        if (a->rcode == DnsRcode::kTempFail) return Match::no();  // §5.5: fails to match
        if (is_void(*a, a->names.size())) return count_void() ? Match::no() : too_many_voids();
        std::size_t n = std::min(a->names.size(), SpfCheck::kMaxPtrNames);
        for (std::size_t i = 0; i < n; ++i) {
          std::string ptr = strip_dot(a->names[i]);
          // Only names in the target's tree can match: validate only those.
          if (!iequals(ptr, *name) && !iends_with(ptr, "." + *name)) continue;
          if (validates(ptr)) return Match::yes();
          if (suspended_) return Match::no();
        }
        return Match::no();
      }
      case MechanismKind::kExists: {
        if (!count_dns_term()) return too_many_terms();
        auto name = target(mech, mv, m);
        if (!name) return m;
        if (!valid_dns_name(*name)) return count_void() ? Match::no() : too_many_voids();
        const DnsAnswer* a = lookup(DnsType::kA, *name);  // always A (§5.7)
        if (!a) return suspended_ ? Match::no() : unanswered();
        if (a->rcode == DnsRcode::kTempFail)
          return Match::fail(SpfResult::kTempError, "DNS error looking up " + *name);
        if (is_void(*a, a->addresses.size())) return count_void() ? Match::no() : too_many_voids();
        return Match::yes();
      }
      case MechanismKind::kInclude: {
        if (!count_dns_term()) return too_many_terms();
        auto name = target(mech, mv, m);
        if (!name) return m;
        Host h = check_host(*name, depth + 1, false);
        if (suspended_) return Match::no();
        switch (h.result) {  // §5.2 table
          case SpfResult::kPass:
            return Match::yes();
          case SpfResult::kFail:
          case SpfResult::kSoftFail:
          case SpfResult::kNeutral:
            return Match::no();
          case SpfResult::kTempError:
            return Match::fail(SpfResult::kTempError, h.problem);
          case SpfResult::kPermError:
            return Match::fail(SpfResult::kPermError, h.problem);
          case SpfResult::kNone:
            return Match::fail(SpfResult::kPermError,
                               "included domain " + *name + " has no SPF record");
        }
        return Match::no();
      }
    }
    return Match::no();
  }

  // §6.2: the explanation, or "" when anything about it is wrong.
  std::string explain(const std::string& spec, MacroValues& mv) {
    auto t = expand(spec, mv, MacroMode::kDomainSpec);
    if (!t) return "";
    std::string name = query_name(std::move(*t));
    if (!valid_dns_name(name)) return "";
    const DnsAnswer* a = lookup(DnsType::kTxt, name);
    if (!a || a->rcode != DnsRcode::kOk || a->txt.size() != 1) return "";
    std::string text;
    for (const auto& s : a->txt.front()) text += s;
    if (text.size() > kMaxRecordLength || !valid_macro_string(text, MacroMode::kExplain)) return "";
    auto e = expand(text, mv, MacroMode::kExplain);
    return e ? *e : "";
  }

  Host check_host(const std::string& domain, int depth, bool want_exp) {
    Host h;
    h.domain = domain;
    auto fail = [&](SpfResult r, std::string why) {
      h.result = r;
      h.problem = std::move(why);
      return h;
    };
    // §4.3: a malformed or single-label domain has no SPF policy.
    if (!valid_check_domain(domain))
      return fail(SpfResult::kNone, "invalid domain \"" + domain + "\"");
    if (depth > SpfCheck::kMaxDnsMechanisms)  // redundant with the term count; kept as a bound
      return fail(SpfResult::kPermError, "include/redirect nested too deeply");
    const DnsAnswer* a = lookup(DnsType::kTxt, domain);
    if (!a) {
      if (suspended_) return h;
      return fail(SpfResult::kPermError, unanswered().problem);
    }
    if (a->rcode == DnsRcode::kTempFail)
      return fail(SpfResult::kTempError, "DNS error looking up TXT of " + domain);
    if (a->rcode != DnsRcode::kOk) return fail(SpfResult::kNone, "no SPF record for " + domain);
    // §4.5: the TXT records that start with "v=spf1"; exactly one may.
    std::optional<std::string> record;
    for (const auto& strings : a->txt) {
      std::string txt;  // the strings joined (§3.3); past the bound, parsing says "too long"
      for (const auto& s : strings)
        if (txt.size() <= kMaxRecordLength) txt += s.substr(0, kMaxRecordLength + 1 - txt.size());
      if (!is_spf_record(txt)) continue;
      if (record) return fail(SpfResult::kPermError, "more than one SPF record for " + domain);
      record = std::move(txt);
    }
    if (!record) return fail(SpfResult::kNone, "no SPF record for " + domain);
    SpfParse parsed = parse_spf_record(*record);
    if (!parsed.record) return fail(SpfResult::kPermError, parsed.error + " (" + domain + ")");
    const SpfRecord& rec = *parsed.record;

    MacroValues mv = base_;
    mv.domain = domain;
    for (const auto& mech : rec.mechanisms) {
      Match m = evaluate(mech, mv, depth);
      if (suspended_) return h;
      if (m.kind == Match::kError) return fail(m.error, std::move(m.problem));
      if (m.kind == Match::kYes) {
        h.result = result_of(mech.qualifier);
        h.mechanism = mech.text;
        if (h.result == SpfResult::kFail && want_exp && rec.explanation) {
          h.explanation = explain(*rec.explanation, mv);
          if (suspended_) return h;
        }
        return h;
      }
    }
    if (rec.redirect) {
      // §6.1: only when no mechanism matched; the target's result (and its
      // exp=, never ours) is the result, "none" there is a permerror.
      if (!count_dns_term()) return fail(SpfResult::kPermError, too_many_terms().problem);
      auto t = expand(*rec.redirect, mv, MacroMode::kDomainSpec);
      if (suspended_) return h;
      if (!t) return fail(SpfResult::kPermError, "macro expansion of redirect too long");
      std::string name = query_name(std::move(*t));
      Host r = check_host(name, depth + 1, want_exp);
      if (suspended_) return h;
      if (r.result == SpfResult::kNone)
        return fail(SpfResult::kPermError, "redirect target " + name + " has no SPF record");
      return r;
    }
    h.result = SpfResult::kNeutral;  // §4.7
    return h;
  }

  const SpfQuery& q_;
  const std::map<DnsQuestion, DnsAnswer>& answers_;
  MacroValues base_;
  DnsQuestion pending_;
  bool suspended_ = false;
  bool over_budget_ = false;
  int dns_terms_ = 0;
  int voids_ = 0;
  int questions_ = 0;
};

}  // namespace

SpfQuery SpfQuery::mail_from(const IpAddress& ip, std::string_view mail_from, std::string_view helo,
                             std::string_view receiver, std::int64_t timestamp) {
  SpfQuery q;
  q.ip = ip;
  q.helo = cut(helo);
  q.receiver = cut(receiver);
  q.timestamp = timestamp;
  std::string from = cut(mail_from);
  if (from.empty()) {
    q.domain = q.helo;
    q.sender = "postmaster@" + q.helo;
    return q;
  }
  std::size_t at = from.rfind('@');
  std::string local = at == std::string::npos ? "" : from.substr(0, at);
  q.domain = at == std::string::npos ? from : from.substr(at + 1);
  if (local.empty()) local = "postmaster";  // §4.3
  q.sender = local + "@" + q.domain;
  return q;
}

SpfQuery SpfQuery::for_helo(const IpAddress& ip, std::string_view helo, std::string_view receiver,
                            std::int64_t timestamp) {
  SpfQuery q = mail_from(ip, "", helo, receiver, timestamp);
  q.helo_identity = true;
  return q;
}

SpfCheck::SpfCheck(SpfQuery query) : query_(std::move(query)) {}

SpfCheck::Step SpfCheck::step() {
  if (outcome_) return *outcome_;
  Evaluator ev(query_, answers_);
  if (auto out = ev.run()) {
    outcome_ = std::move(*out);
    return *outcome_;
  }
  pending_ = ev.pending();
  return *pending_;
}

void SpfCheck::feed(DnsAnswer answer) {
  if (!pending_) return;
  answers_[*pending_] = std::move(answer);
  pending_.reset();
}

}  // namespace tegami::mailauth
