#include "mail/address.hpp"

#include <limits>
#include <set>

#include "mail/intl.hpp"

namespace tegami::mail {
namespace {

constexpr bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_let_dig(char c) {
  return is_alpha(c) || is_digit(c);
}
constexpr bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 5322 §3.2.3 atext, as RFC 5321 §4.1.2 uses it, extended with
// UTF8-non-ascii (RFC 6531 §3.3); octets above 127 only get here once the
// whole path was checked to be well-formed UTF-8.
constexpr bool is_atext(char c) {
  if (is_let_dig(c) || static_cast<unsigned char>(c) >= 0x80) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}
// RFC 5321 §4.1.2 qtextSMTP: %d32-33 / %d35-91 / %d93-126, and
// UTF8-non-ascii (RFC 6531 §3.3).
constexpr bool is_qtext(char c) {
  if (static_cast<unsigned char>(c) >= 0x80) return true;
  return c >= 32 && c <= 126 && c != '"' && c != '\\';
}
// RFC 5321 §4.1.2 quoted-pairSMTP: %d92 %d32-126.
constexpr bool is_quotable(char c) {
  return c >= 32 && c <= 126;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

Error path_error(PathKind kind, std::string_view what) {
  if (kind == PathKind::kReverse) {
    return Error::perm("Bad sender address syntax: " + std::string(what), 501, "5.1.7");
  }
  return Error::perm("Bad recipient address syntax: " + std::string(what), 501, "5.1.3");
}

Error param_error(int code, std::string_view what) {
  return Error::perm(std::string(what), code, "5.5.4");
}

// Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str]
// (RFC 5321 §4.1.2). `numeric` is set when the last label is all digits
// (no top-level domain is, RFC 3696 §2), i.e. an IP address in disguise.
bool valid_domain(std::string_view d, bool& numeric) {
  if (d.empty()) return false;
  std::size_t start = 0;
  bool last_numeric = false;
  while (true) {
    std::size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? d.npos : dot - start);
    if (label.empty() || label.size() > kMaxLabel) return false;
    if (!is_let_dig(label.front()) || !is_let_dig(label.back())) return false;
    last_numeric = true;
    for (char c : label) {
      if (!is_let_dig(c) && c != '-') return false;
      if (!is_digit(c)) last_numeric = false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  numeric = last_numeric;
  return true;
}

// IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT (0-255).
bool valid_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t n = 0;
    int value = 0;
    while (i < s.size() && is_digit(s[i]) && n < 4) {
      value = value * 10 + (s[i] - '0');
      ++i;
      ++n;
    }
    if (n == 0 || n > 3 || value > 255) return false;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

// IPv6-addr (RFC 5321 §4.1.3): full, compressed ("::" once, at most 6 other
// groups), and both with an IPv4 tail counting as two groups.
bool valid_ipv6(std::string_view s) {
  std::size_t dc = s.find("::");
  if (dc != std::string_view::npos && s.find("::", dc + 1) != std::string_view::npos) return false;
  auto count_groups = [](std::string_view part, bool allow_v4_tail, int& groups) {
    groups = 0;
    if (part.empty()) return true;
    std::size_t start = 0;
    while (true) {
      std::size_t colon = part.find(':', start);
      std::string_view g = part.substr(start, colon == part.npos ? part.npos : colon - start);
      if (colon == part.npos && allow_v4_tail && g.find('.') != g.npos) {
        if (!valid_ipv4(g)) return false;
        groups += 2;
        return true;
      }
      if (g.empty() || g.size() > 4) return false;
      for (char c : g) {
        if (!is_hex(c)) return false;
      }
      ++groups;
      if (colon == part.npos) return true;
      start = colon + 1;
    }
  };
  int groups = 0;
  if (dc == std::string_view::npos) return count_groups(s, true, groups) && groups == 8;
  int head = 0;
  int tail = 0;
  if (!count_groups(s.substr(0, dc), false, head)) return false;
  if (!count_groups(s.substr(dc + 2), true, tail)) return false;
  return head + tail <= 6;
}

// address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]".
// General-address-literal (a registered tag) is not supported: no tags exist.
bool valid_literal(std::string_view lit) {
  if (lit.size() < 2 || lit.front() != '[' || lit.back() != ']') return false;
  std::string_view in = lit.substr(1, lit.size() - 2);
  if (in.size() > 5 && to_lower(in.substr(0, 5)) == "ipv6:") return valid_ipv6(in.substr(5));
  return valid_ipv4(in);
}

// Parses "domain" or "[literal]" into `a`; `text` is what follows the '@'.
bool parse_domain_part(std::string_view text, Address& a, bool& too_long) {
  too_long = text.size() > kMaxDomain;
  if (too_long) return false;
  if (!text.empty() && text.front() == '[') {
    if (!valid_literal(text)) return false;
    a.ip_literal = true;
    a.domain = to_lower(text);
    return true;
  }
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);  // one trailing dot
  std::string domain = to_lower(text);
  if (!is_ascii(text) || domain.find("xn--") != std::string::npos) {
    // RFC 5891 §5: U-labels become A-labels (after NFC), A-labels are
    // checked; the A-label form is the one every lookup uses.
    auto ascii = domain_to_ascii(text);
    if (!ascii) return false;
    a.utf8_domain = !is_ascii(text);
    domain = std::move(*ascii);
    if (domain.size() > kMaxDomain) {
      too_long = true;
      return false;
    }
  }
  bool numeric = false;
  if (!valid_domain(domain, numeric)) return false;
  a.numeric_domain = numeric;
  a.domain = std::move(domain);
  return true;
}

// Finds the '>' that closes a path starting at text[0] == '<', skipping
// quoted strings (a quoted local part may contain '>').
std::size_t find_path_end(std::string_view text) {
  bool quoted = false;
  for (std::size_t i = 1; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      return i;
    }
  }
  return std::string_view::npos;
}

bool is_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!is_atext(c)) {
      return false;
    }
    prev = c;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

std::string Address::to_string() const {
  if (null_path) return "";
  std::string out;
  if (is_dot_string(local)) {
    out = local;
  } else {
    out.reserve(local.size() + 2);
    out += '"';
    for (char c : local) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  if (!domain.empty()) {
    out += '@';
    out += domain;
  }
  return out;
}

Result<Address> parse_path(std::string_view text, PathKind kind) {
  if (text.size() > kMaxPath) return fail(path_error(kind, "path too long"));
  if (text.size() < 2 || text.front() != '<' || text.back() != '>') {
    return fail(path_error(kind, "missing angle brackets"));
  }
  std::string_view in = text.substr(1, text.size() - 2);
  if (!is_ascii(in) && !printable_utf8(in)) {
    // RFC 6531 §3.3 allows UTF-8 only: malformed or overlong sequences,
    // surrogates and C1 controls are not characters of any address.
    return fail(Error::perm("Malformed UTF-8 or control character in address", 501, "5.5.4"));
  }
  Address a;
  if (in.empty()) {
    if (kind == PathKind::kForward) return fail(path_error(kind, "empty path"));
    a.null_path = true;
    return a;
  }

  // A-d-l = At-domain *( "," At-domain ) ":" (RFC 5321 §4.1.2): parsed, then dropped.
  if (in.front() == '@') {
    std::size_t colon = in.find(':');
    if (colon == std::string_view::npos) return fail(path_error(kind, "bad source route"));
    std::string_view route = in.substr(0, colon);
    std::size_t start = 0;
    while (start <= route.size()) {
      std::size_t comma = route.find(',', start);
      std::string_view hop =
          route.substr(start, comma == std::string_view::npos ? route.npos : comma - start);
      bool numeric = false;
      if (hop.size() < 2 || hop.front() != '@' || !valid_domain(hop.substr(1), numeric)) {
        return fail(path_error(kind, "bad source route"));
      }
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    a.has_source_route = true;
    a.source_route = to_lower(route);
    in.remove_prefix(colon + 1);
  }

  // Local-part = Dot-string / Quoted-string.
  std::size_t i = 0;
  if (!in.empty() && in.front() == '"') {
    a.quoted_local = true;
    i = 1;
    bool closed = false;
    while (i < in.size()) {
      char c = in[i];
      if (c == '"') {
        closed = true;
        ++i;
        break;
      }
      if (c == '\\') {
        if (i + 1 >= in.size() || !is_quotable(in[i + 1])) {
          return fail(path_error(kind, "bad quoted local part"));
        }
        a.local += in[i + 1];
        i += 2;
        continue;
      }
      if (!is_qtext(c)) return fail(path_error(kind, "bad quoted local part"));
      a.local += c;
      ++i;
    }
    if (!closed) return fail(path_error(kind, "unterminated quoted local part"));
  } else {
    while (i < in.size() && in[i] != '@') ++i;
    if (!is_dot_string(in.substr(0, i))) return fail(path_error(kind, "bad local part"));
    a.local = std::string(in.substr(0, i));
  }
  if (i > kMaxLocalPart) return fail(path_error(kind, "local part too long"));

  if (i == in.size()) {
    // RFC 5321 §4.1.1.3: "RCPT TO:<Postmaster>" without a domain must work.
    if (kind == PathKind::kForward && !a.quoted_local && !a.has_source_route &&
        iequals(a.local, "postmaster")) {
      a.local_lower = to_lower(a.local);
      return a;
    }
    return fail(path_error(kind, "missing domain"));
  }
  if (in[i] != '@') return fail(path_error(kind, "bad local part"));

  bool too_long = false;
  if (!parse_domain_part(in.substr(i + 1), a, too_long)) {
    return fail(path_error(kind, too_long ? "domain too long" : "bad domain"));
  }
  a.utf8_local = !is_ascii(a.local);
  a.local_lower = local_key(a.local);
  a.local_has_at = a.local.find('@') != std::string::npos;
  a.local_has_percent = a.local.find('%') != std::string::npos;
  a.local_has_bang = a.local.find('!') != std::string::npos;
  return a;
}

Result<PathCommand> parse_path_command(std::string_view args, PathKind kind, bool allow_params,
                                       bool smtputf8) {
  // RFC 5321 has no space after the colon; many clients send one (RFC 5321 §4.1.1.2 note).
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  if (args.empty() || args.front() != '<') return fail(path_error(kind, "missing angle brackets"));
  std::size_t end = find_path_end(args);
  if (end == std::string_view::npos) return fail(path_error(kind, "missing closing bracket"));
  PathCommand cmd;
  auto address = parse_path(args.substr(0, end + 1), kind);
  if (!address) return fail(address.error());
  cmd.address = std::move(*address);

  std::string_view rest = args.substr(end + 1);
  if (!rest.empty() && rest.front() != ' ') return fail(path_error(kind, "junk after the path"));
  std::set<std::string> seen;  // keywords so far, upper case
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    std::size_t sp = rest.find(' ');
    std::string_view param = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp);

    // esmtp-param = esmtp-keyword ["=" esmtp-value] (RFC 5321 §4.1.2).
    std::size_t eq = param.find('=');
    std::string_view keyword = param.substr(0, eq);
    bool has_value = eq != std::string_view::npos;
    std::string_view value = has_value ? param.substr(eq + 1) : std::string_view{};
    if (keyword.empty() || !is_let_dig(keyword.front())) {
      return fail(param_error(501, "Bad parameter syntax"));
    }
    for (char c : keyword) {
      if (!is_let_dig(c) && c != '-') return fail(param_error(501, "Bad parameter syntax"));
    }
    if (has_value && value.empty()) return fail(param_error(501, "Bad parameter syntax"));
    for (char c : value) {
      if (c < 33 || c > 126 || c == '=') return fail(param_error(501, "Bad parameter syntax"));
    }
    if (!allow_params) {
      return fail(param_error(555, "Unsupported parameter " + std::string(keyword)));
    }
    // Each keyword at most once (RFC 5321 §4.1.2 does not repeat them; RFC
    // 3461 §4 for the DSN ones): the second is 501.
    auto once = [&seen](std::string_view k) {
      std::string up(k);
      for (auto& ch : up) ch = (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 32) : ch;
      return seen.insert(up).second;
    };
    const bool rcpt = kind == PathKind::kForward;
    if (rcpt && iequals(keyword, "NOTIFY")) {
      if (!once(keyword)) return fail(param_error(501, "Repeated NOTIFY parameter"));
      if (!has_value) return fail(param_error(501, "Bad NOTIFY parameter"));
      auto n = parse_notify(value);
      if (!n) return fail(n.error());
      cmd.rcpt.notify = *n;
    } else if (rcpt && iequals(keyword, "ORCPT")) {
      if (!once(keyword)) return fail(param_error(501, "Repeated ORCPT parameter"));
      if (!has_value) return fail(param_error(501, "Bad ORCPT parameter"));
      auto o = parse_orcpt(value);
      if (!o) return fail(o.error());
      cmd.rcpt.orcpt = std::move(*o);
    } else if (rcpt) {
      return fail(param_error(555, "Unsupported parameter " + std::string(keyword)));
    } else if (iequals(keyword, "SIZE")) {
      if (!once(keyword)) return fail(param_error(501, "Repeated SIZE parameter"));
      if (value.empty() || value.size() > kMaxSizeDigits) {
        return fail(param_error(501, "Bad SIZE parameter"));
      }
      std::uint64_t n = 0;
      constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
      for (char c : value) {
        if (!is_digit(c)) return fail(param_error(501, "Bad SIZE parameter"));
        auto d = static_cast<std::uint64_t>(c - '0');
        n = (n > (kMax - d) / 10) ? kMax : n * 10 + d;
      }
      cmd.params.size = n;
    } else if (iequals(keyword, "BODY")) {
      if (!once(keyword)) return fail(param_error(501, "Repeated BODY parameter"));
      if (iequals(value, "7BIT")) {
        cmd.params.body = BodyType::k7Bit;
      } else if (iequals(value, "8BITMIME")) {
        cmd.params.body = BodyType::k8BitMime;
      } else if (iequals(value, "BINARYMIME")) {
        cmd.params.body = BodyType::kBinaryMime;
      } else {
        return fail(param_error(501, "Bad BODY parameter"));
      }
    } else if (iequals(keyword, "SMTPUTF8")) {
      // RFC 6531 §3.4: a keyword without a value, on MAIL only.
      if (!once(keyword)) return fail(param_error(501, "Repeated SMTPUTF8 parameter"));
      if (has_value) return fail(param_error(501, "SMTPUTF8 takes no value"));
      cmd.params.smtputf8 = true;
    } else if (iequals(keyword, "RET")) {
      if (!once(keyword)) return fail(param_error(501, "Repeated RET parameter"));
      auto r = parse_ret(value);
      if (!r) return fail(r.error());
      cmd.params.ret = *r;
    } else if (iequals(keyword, "ENVID")) {
      if (!once(keyword)) return fail(param_error(501, "Repeated ENVID parameter"));
      if (!has_value) return fail(param_error(501, "Bad ENVID parameter"));
      auto e = parse_envid(value);
      if (!e) return fail(e.error());
      cmd.params.envid = std::move(*e);
    } else {
      return fail(param_error(555, "Unsupported parameter " + std::string(keyword)));
    }
  }
  if (kind == PathKind::kReverse) smtputf8 = cmd.params.smtputf8;
  if (cmd.address.utf8() && !smtputf8) {
    // RFC 6531 §3.5: a non-ASCII mailbox without the SMTPUTF8 parameter.
    return fail(Error::perm(kind == PathKind::kReverse
                                ? "Non-ASCII sender address requires MAIL FROM ... SMTPUTF8"
                                : "Non-ASCII recipient address requires MAIL FROM ... SMTPUTF8",
                            553, "5.6.7"));
  }
  return cmd;
}

bool is_relay_hack(const Address& a) {
  return a.has_source_route || a.local_has_percent || a.local_has_bang || a.local_has_at ||
         a.ip_literal || a.numeric_domain;
}

bool domain_equal(std::string_view a, std::string_view b) {
  if (!a.empty() && a.back() == '.') a.remove_suffix(1);
  if (!b.empty() && b.back() == '.') b.remove_suffix(1);
  return iequals(a, b);
}

}  // namespace tegami::mail
