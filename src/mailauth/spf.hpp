// SPF (RFC 7208): check_host(), written sans-I/O. The caller creates an
// SpfCheck, asks it what it needs (step()): a DNS question, or the final
// outcome; it looks the question up however it likes (c-ares on the event
// loop in server/spf_check.hpp, a table in the tests) and feeds the answer
// back. Nothing here blocks, sleeps or touches a socket.
//
//   SpfCheck check(SpfQuery::mail_from(ip, "user@example.com", helo, us));
//   for (;;) {
//     auto step = check.step();
//     if (auto* q = std::get_if<DnsQuestion>(&step)) { check.feed(lookup(*q)); continue; }
//     return std::get<SpfOutcome>(step);
//   }
//
// How it runs: each step() evaluates check_host() from the start against the
// answers fed so far, and stops at the first question it has no answer for.
// The evaluation is a pure function of the query and the answers, so a
// replay takes the same path; an SPF check asks a few dozen questions at
// most (the limits below), so replaying is cheaper than any DNS round trip,
// and the evaluator stays plain recursive code (include and redirect are
// recursive check_host() calls, §5.2, §6.1) instead of a hand-made stack.
//
// Limits (§4.6.4, §11.1), all counted per check:
// - at most kMaxDnsMechanisms terms that cause DNS lookups (include, a, mx,
//   ptr, exists, redirect), counted as each is evaluated; the next one is
//   permerror. This also bounds include/redirect recursion.
// - at most kMaxVoidLookups lookups that answer NXDOMAIN or no records; the
//   next one is permerror.
// - an mx term with more than kMaxMxNames exchanges is permerror; a ptr term
//   or %{p} looks at the first kMaxPtrNames PTR names only.
// - at most kMaxQuestions questions in all (a safety net the limits above
//   already keep it under): beyond, permerror.
// The explanation (exp=, §6.2) is looked up only for a fail result of the
// top-level record or its redirect target, never of an include; its lookup
// counts against no limit, and any problem with it yields no explanation.
//
// Identities (§2.3, §2.4): SpfQuery::mail_from() checks the MAIL FROM
// domain, or "postmaster@HELO" for the null reverse-path; helo() checks the
// HELO name. A local-part-less sender gets "postmaster" (§4.3).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mailauth/spf_record.hpp"

namespace tegami::mailauth {

enum class SpfResult { kNone, kNeutral, kPass, kFail, kSoftFail, kTempError, kPermError };

// "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" (§2.6).
std::string_view to_string(SpfResult r);

enum class DnsType { kTxt, kA, kAaaa, kMx, kPtr };
std::string_view to_string(DnsType t);

struct DnsQuestion {
  DnsType type = DnsType::kTxt;
  std::string name;  // no trailing dot
  auto operator<=>(const DnsQuestion&) const = default;
};

enum class DnsRcode {
  kOk,        // records (possibly none: the name exists without this type)
  kNoData,    // the name exists, but has no records of this type
  kNotFound,  // NXDOMAIN (RCODE 3)
  kTempFail,  // SERVFAIL, timeout...: "temperror" where §5 says so
};

struct DnsAnswer {
  DnsRcode rcode = DnsRcode::kTempFail;
  // kTxt: each record's character-strings, kept apart (§4.5 joins them).
  std::vector<std::vector<std::string>> txt;
  // kA, kAaaa.
  std::vector<IpAddress> addresses;
  // kMx: the exchanges ("" for a null MX); kPtr: the names. No trailing dot.
  std::vector<std::string> names;
};

struct SpfQuery {
  IpAddress ip;                // the SMTP client (IPv4-mapped IPv6 already IPv4)
  std::string domain;          // <domain>: the domain checked
  std::string sender;          // <sender>: local-part@domain (%{s})
  std::string helo;            // %{h}
  std::string receiver;        // %{r}: our host name, in explanations only
  std::int64_t timestamp = 0;  // %{t}: seconds since the epoch
  bool helo_identity = false;  // which identity this is (for the headers)

  // The MAIL FROM identity (§2.4). `mail_from` is the reverse-path without
  // angle brackets; "" is the null reverse-path (postmaster@HELO is checked).
  static SpfQuery mail_from(const IpAddress& ip, std::string_view mail_from, std::string_view helo,
                            std::string_view receiver, std::int64_t timestamp = 0);
  // The HELO identity (§2.3).
  static SpfQuery for_helo(const IpAddress& ip, std::string_view helo, std::string_view receiver,
                           std::int64_t timestamp = 0);
};

struct SpfOutcome {
  SpfResult result = SpfResult::kNone;
  std::string mechanism;    // the term that decided ("-all", "include:x"), "" for the default
  std::string domain;       // the domain whose record decided
  std::string explanation;  // fail only: the expanded exp= text, or ""
  std::string problem;      // temperror/permerror/none: why, for logs and problem=
  int dns_mechanisms = 0;   // terms counted against kMaxDnsMechanisms
  int void_lookups = 0;
  int questions = 0;  // DNS questions asked
};

class SpfCheck {
 public:
  static constexpr int kMaxDnsMechanisms = 10;  // §4.6.4
  static constexpr int kMaxVoidLookups = 2;     // §4.6.4
  static constexpr std::size_t kMaxMxNames = 10;
  static constexpr std::size_t kMaxPtrNames = 10;
  static constexpr int kMaxQuestions = 200;
  // Inputs longer than this (a reverse-path is at most 256 octets, RFC 5321
  // §4.5.3.1.3) are cut: they only feed macros.
  static constexpr std::size_t kMaxInput = 1024;

  explicit SpfCheck(SpfQuery query);

  using Step = std::variant<DnsQuestion, SpfOutcome>;
  // The next question, or the outcome once no question is left.
  Step step();
  // The answer to the question step() returned last.
  void feed(DnsAnswer answer);

  const SpfQuery& query() const { return query_; }

 private:
  SpfQuery query_;
  std::map<DnsQuestion, DnsAnswer> answers_;
  std::optional<DnsQuestion> pending_;
  std::optional<SpfOutcome> outcome_;
};

// The Authentication-Results resinfo (RFC 8601 §2.7.2), e.g.
// "spf=pass (domain of user@example.com designates 192.0.2.1 as permitted sender)
//  smtp.mailfrom=user@example.com"; smtp.helo= for the HELO identity.
std::string auth_results_spf(const SpfQuery& query, const SpfOutcome& outcome);

// The Received-SPF field value (RFC 7208 §9.1), without the field name, e.g.
// "pass (mx.example.org: domain of user@example.com designates 192.0.2.1 as
//  permitted sender) client-ip=192.0.2.1; envelope-from=\"user@example.com\";
//  helo=mail.example.com; receiver=mx.example.org; identity=mailfrom;
//  mechanism=\"ip4:192.0.2.0/24\"". Values come from the client and the DNS:
// they are quoted (RFC 5322 quoted-string) unless they are a dot-atom.
std::string received_spf(const SpfQuery& query, const SpfOutcome& outcome);

}  // namespace tegami::mailauth
