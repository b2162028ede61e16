// Rendering of SPF results for headers: Authentication-Results (RFC 8601
// §2.7.2) and Received-SPF (RFC 7208 §9.1). Every value here came from the
// client or from DNS, so each is reduced to printable ASCII and quoted or
// escaped where the grammar needs it: a sender must not be able to close a
// comment or start a new key.
#include "mailauth/spf.hpp"

namespace tegami::mailauth {

namespace {

constexpr std::size_t kMaxValue = 256;

bool is_atext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// Printable ASCII only (controls and 8-bit bytes become '?'), bounded.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxValue)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  return out;
}

bool is_dot_atom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (s[i - 1] == '.') return false;
    } else if (!is_atext(s[i])) {
      return false;
    }
  }
  return true;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : printable(s)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A dot-atom as is, anything else as a quoted-string (RFC 5322 §3.2.3, §3.2.4).
std::string value(std::string_view s) {
  std::string p = printable(s);
  return is_dot_atom(p) ? p : quoted(p);
}

// local-part@domain for RFC 8601's pvalue when both halves are dot-atoms
// (the common case), a quoted-string otherwise.
std::string address_value(std::string_view s) {
  std::string p = printable(s);
  std::size_t at = p.rfind('@');
  if (at != std::string::npos && is_dot_atom(p.substr(0, at)) && is_dot_atom(p.substr(at + 1)))
    return p;
  return quoted(p);
}

// Comment text (RFC 5322 ctext): parentheses and backslashes escaped.
std::string comment_text(std::string_view s) {
  std::string out;
  for (char c : printable(s)) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The explanation in the words of RFC 7208 §9.1's example and common use.
std::string explain(const SpfQuery& q, const SpfOutcome& o) {
  std::string who = q.helo_identity ? q.helo : q.sender;
  std::string ip = q.ip.to_string();
  switch (o.result) {
    case SpfResult::kPass:
      return "domain of " + who + " designates " + ip + " as permitted sender";
    case SpfResult::kFail:
      return "domain of " + who + " does not designate " + ip + " as permitted sender";
    case SpfResult::kSoftFail:
      return "domain of transitioning " + who + " does not designate " + ip +
             " as permitted sender";
    case SpfResult::kNeutral:
      return ip + " is neither permitted nor denied by domain of " + who;
    case SpfResult::kNone:
      return "domain of " + who + " does not designate permitted sender hosts";
    case SpfResult::kTempError:
      return "error in processing during lookup of " + who + ": " + o.problem;
    case SpfResult::kPermError:
      return "permanent error in processing during lookup of " + who + ": " + o.problem;
  }
  return "";
}

}  // namespace

std::string auth_results_spf(const SpfQuery& query, const SpfOutcome& outcome) {
  std::string out = "spf=" + std::string(to_string(outcome.result));
  out += " (" + comment_text(explain(query, outcome)) + ")";
  if (query.helo_identity) {
    out += " smtp.helo=" + value(query.helo);
  } else {
    out += " smtp.mailfrom=" + address_value(query.sender);
  }
  return out;
}

std::string received_spf(const SpfQuery& query, const SpfOutcome& outcome) {
  std::string out(to_string(outcome.result));
  out += " (";
  if (!query.receiver.empty()) out += comment_text(query.receiver) + ": ";
  out += comment_text(explain(query, outcome)) + ")";
  out += " client-ip=" + value(query.ip.to_string());
  out += "; envelope-from=" + quoted(query.sender);
  out += "; helo=" + value(query.helo);
  if (!query.receiver.empty()) out += "; receiver=" + value(query.receiver);
  out += std::string("; identity=") + (query.helo_identity ? "helo" : "mailfrom");
  if (!outcome.mechanism.empty()) out += "; mechanism=" + value(outcome.mechanism);
  if (!outcome.problem.empty() &&
      (outcome.result == SpfResult::kTempError || outcome.result == SpfResult::kPermError))
    out += "; problem=" + quoted(outcome.problem);
  return out + ";";
}

}  // namespace tegami::mailauth
