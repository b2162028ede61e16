#include "mailauth/spf_record.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "mail/ascii.hpp"

namespace tegami::mailauth {

using mail::ascii_lower;
using mail::iequals;
using mail::is_alpha;
using mail::is_digit;

namespace {

constexpr bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}

constexpr bool is_delimiter(char c) {
  return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

// Macro letters of §7.3; c, r and t only in explanations.
bool allowed_letter(char lower, MacroMode mode) {
  switch (lower) {
    case 's':
    case 'l':
    case 'o':
    case 'd':
    case 'i':
    case 'p':
    case 'v':
    case 'h':
      return true;
    case 'c':
    case 'r':
    case 't':
      return mode == MacroMode::kExplain;
    default:
      return false;
  }
}

// One piece of a macro-string: literal text, or a macro-expand.
struct Token {
  bool macro = false;
  std::string_view literal;  // !macro: the text; macro: "%%", "%_", "%-" or "%{...}"
  char letter = 0;           // %{...}: the letter as written
  std::size_t digits = 0;    // 0: keep every part
  bool reverse = false;
  std::string_view delimiters;
};

// Splits a macro-string into tokens; false (and `error`) on a syntax error.
// Digit transformers beyond kMaxParts are clamped: no name has more labels.
constexpr std::size_t kMaxParts = 128;
bool tokenize(std::string_view s, MacroMode mode, std::vector<Token>* out, std::string* error) {
  auto bad = [&](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c != '%') {
      std::size_t b = i;
      while (i < s.size() && s[i] != '%') {
        unsigned char u = static_cast<unsigned char>(s[i]);
        bool ok = (u >= 0x21 && u <= 0x7e) || (u == ' ' && mode == MacroMode::kExplain);
        if (!ok) return bad("invalid character in macro-string");
        ++i;
      }
      if (out) out->push_back(Token{false, s.substr(b, i - b)});
      continue;
    }
    if (i + 1 >= s.size()) return bad("'%' at the end of a macro-string");
    char n = s[i + 1];
    if (n == '%' || n == '_' || n == '-') {
      if (out) out->push_back(Token{true, s.substr(i, 2)});
      i += 2;
      continue;
    }
    if (n != '{') return bad("'%' not followed by '{', '%', '_' or '-'");
    std::size_t b = i;
    i += 2;
    if (i >= s.size()) return bad("unterminated macro");
    Token t;
    t.macro = true;
    t.letter = s[i];
    if (!allowed_letter(ascii_lower(t.letter), mode))
      return bad(std::string("invalid macro letter '") + t.letter + "'");
    ++i;
    bool have_digits = false;
    while (i < s.size() && is_digit(s[i])) {
      have_digits = true;
      t.digits = std::min(kMaxParts, t.digits * 10 + static_cast<std::size_t>(s[i] - '0'));
      ++i;
    }
    if (have_digits && t.digits == 0) return bad("macro digit transformer of zero");
    if (i < s.size() && (s[i] == 'r' || s[i] == 'R')) {
      t.reverse = true;
      ++i;
    }
    std::size_t d = i;
    while (i < s.size() && is_delimiter(s[i])) ++i;
    t.delimiters = s.substr(d, i - d);
    if (i >= s.size() || s[i] != '}') return bad("malformed macro");
    ++i;
    t.literal = s.substr(b, i - b);
    if (out) out->push_back(t);
  }
  return true;
}

bool valid_toplabel(std::string_view t) {
  if (t.empty()) return false;
  bool alpha = false, dash = false;
  for (char c : t) {
    if (c == '-') {
      dash = true;
    } else if (is_alpha(c)) {
      alpha = true;
    } else if (!is_digit(c)) {
      return false;
    }
  }
  if (!dash) return alpha;
  return is_alnum(t.front()) && is_alnum(t.back());
}

// "0" or 1-9 followed by digits, at most `max`: the cidr-length grammar of §5.6.
std::optional<int> cidr_value(std::string_view digits, int max) {
  if (digits.empty() || digits.size() > 3) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int v = 0;
  for (char c : digits) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// Strips a dual-cidr-length ("/24", "//64", "/24//64") from the end of `s`.
// False when one is there but malformed or out of range.
bool strip_dual_cidr(std::string_view& s, int& cidr4, int& cidr6) {
  auto trailing_digits = [](std::string_view v) {
    std::size_t n = 0;
    while (n < v.size() && is_digit(v[v.size() - 1 - n])) ++n;
    return n;
  };
  std::size_t n = trailing_digits(s);
  if (n == 0 || n >= s.size() || s[s.size() - n - 1] != '/') return true;  // none
  std::string_view digits = s.substr(s.size() - n);
  if (s.size() >= n + 2 && s[s.size() - n - 2] == '/') {
    auto v = cidr_value(digits, 128);
    if (!v) return false;
    cidr6 = *v;
    s.remove_suffix(n + 2);
    n = trailing_digits(s);
    if (n == 0 || n >= s.size() || s[s.size() - n - 1] != '/') return true;
    digits = s.substr(s.size() - n);
  }
  auto v = cidr_value(digits, 32);
  if (!v) return false;
  cidr4 = *v;
  s.remove_suffix(n + 1);
  return true;
}

std::string url_escape(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : v) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      unsigned char u = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string macro_value(char lower, const MacroValues& v) {
  switch (lower) {
    case 's':
      return v.sender;
    case 'l':
      return v.local_part;
    case 'o':
      return v.sender_domain;
    case 'd':
      return v.domain;
    case 'i':
      return v.ip.macro_i();
    case 'p':
      return v.validated.empty() ? "unknown" : v.validated;
    case 'v':
      return v.ip.v6 ? "ip6" : "in-addr";
    case 'h':
      return v.helo;
    case 'c':
      return v.ip.to_string();
    case 'r':
      return v.receiver.empty() ? "unknown" : v.receiver;
    case 't':
      return std::to_string(v.timestamp);
    default:
      return "";
  }
}

// §7.3: split on the delimiters, reverse, keep the right-hand parts, join with ".".
std::string transform(const std::string& value, const Token& t) {
  if (t.digits == 0 && !t.reverse && t.delimiters.empty()) return value;
  std::string_view delims = t.delimiters.empty() ? std::string_view(".") : t.delimiters;
  std::vector<std::string_view> parts;
  std::string_view rest(value);
  for (;;) {
    std::size_t p = rest.find_first_of(delims);
    parts.push_back(rest.substr(0, p));
    if (p == std::string_view::npos) break;
    rest.remove_prefix(p + 1);
  }
  if (t.reverse) std::reverse(parts.begin(), parts.end());
  std::size_t first = 0;
  if (t.digits != 0 && t.digits < parts.size()) first = parts.size() - t.digits;
  std::string out;
  for (std::size_t i = first; i < parts.size(); ++i) {
    if (i > first) out += '.';
    out += parts[i];
  }
  return out;
}

void hex_nibbles(const IpAddress& ip, bool reversed, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char nib[32];
  for (int i = 0; i < 16; ++i) {
    nib[2 * i] = kHex[ip.bytes[i] >> 4];
    nib[2 * i + 1] = kHex[ip.bytes[i] & 15];
  }
  for (int i = 0; i < 32; ++i) {
    if (i > 0) out += '.';
    out += nib[reversed ? 31 - i : i];
  }
}

}  // namespace

// ---- IpAddress ----

std::optional<IpAddress> IpAddress::parse_v4(std::string_view text) {
  IpAddress ip;
  std::size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') return std::nullopt;
      ++pos;
    }
    std::size_t b = pos;
    int v = 0;
    while (pos < text.size() && is_digit(text[pos]) && pos - b < 3)
      v = v * 10 + (text[pos++] - '0');
    std::size_t len = pos - b;
    if (len == 0 || v > 255 || (len > 1 && text[b] == '0')) return std::nullopt;
    ip.bytes[part] = static_cast<std::uint8_t>(v);
  }
  if (pos != text.size()) return std::nullopt;
  return ip;
}

std::optional<IpAddress> IpAddress::parse_v6(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  IpAddress ip;
  ip.v6 = true;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  return ip;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (auto v4 = parse_v4(text)) return v4;
  auto v6 = parse_v6(text);
  if (!v6) return std::nullopt;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(v6->bytes.data(), kMapped, 12) == 0) {
    IpAddress ip;
    std::memcpy(ip.bytes.data(), v6->bytes.data() + 12, 4);
    return ip;
  }
  return v6;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::string IpAddress::macro_i() const {
  if (!v6) return to_string();
  std::string out;
  hex_nibbles(*this, false, out);
  return out;
}

std::string IpAddress::reverse_name() const {
  std::string out;
  if (v6) {
    hex_nibbles(*this, true, out);
    return out + ".ip6.arpa";
  }
  for (int i = 3; i >= 0; --i) out += std::to_string(bytes[i]) + ".";
  return out + "in-addr.arpa";
}

bool IpAddress::in_network(const IpAddress& net, int prefix) const {
  if (v6 != net.v6) return false;
  int bits = v6 ? 128 : 32;
  prefix = std::clamp(prefix, 0, bits);
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(bytes.data(), net.bytes.data(), static_cast<std::size_t>(full)) != 0)
    return false;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (bytes[full] & mask) == (net.bytes[full] & mask);
}

// ---- names ----

bool valid_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > kMaxDomainLength) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (++label > kMaxLabelLength) {
      return false;
    }
  }
  return label > 0;
}

bool valid_check_domain(std::string_view name) {
  if (!valid_dns_name(name) || name.front() == '[') return false;
  if (name.back() == '.') name.remove_suffix(1);
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) return false;
  }
  return name.find('.') != std::string_view::npos;
}

std::string query_name(std::string expanded) {
  if (!expanded.empty() && expanded.back() == '.') expanded.pop_back();
  while (expanded.size() > kMaxDomainLength) {
    std::size_t dot = expanded.find('.');
    if (dot == std::string::npos) break;
    expanded.erase(0, dot + 1);
  }
  return expanded;
}

// ---- macros ----

bool valid_macro_string(std::string_view s, MacroMode mode, std::string* error) {
  return tokenize(s, mode, nullptr, error);
}

bool valid_domain_spec(std::string_view s, std::string* error) {
  std::vector<Token> tokens;
  if (!tokenize(s, MacroMode::kDomainSpec, &tokens, error)) return false;
  if (tokens.empty()) {
    if (error) *error = "empty domain-spec";
    return false;
  }
  if (tokens.back().macro) return true;
  std::string_view lit = tokens.back().literal;
  if (!lit.empty() && lit.back() == '.') lit.remove_suffix(1);
  std::size_t dot = lit.rfind('.');
  if (dot == std::string_view::npos || !valid_toplabel(lit.substr(dot + 1))) {
    if (error) *error = "domain-spec \"" + std::string(s) + "\" does not end in a valid top label";
    return false;
  }
  return true;
}

bool uses_p_macro(std::string_view s) {
  std::vector<Token> tokens;
  if (!tokenize(s, MacroMode::kExplain, &tokens, nullptr)) return false;
  return std::any_of(tokens.begin(), tokens.end(),
                     [](const Token& t) { return ascii_lower(t.letter) == 'p'; });
}

std::optional<std::string> expand_macros(std::string_view s, const MacroValues& values,
                                         MacroMode mode) {
  std::vector<Token> tokens;
  if (!tokenize(s, mode, &tokens, nullptr)) return std::nullopt;
  std::string out;
  for (const auto& t : tokens) {
    if (!t.macro) {
      out += t.literal;
    } else if (t.literal == "%%") {
      out += '%';
    } else if (t.literal == "%_") {
      out += ' ';
    } else if (t.literal == "%-") {
      out += "%20";
    } else {
      char lower = ascii_lower(t.letter);
      std::string v = transform(macro_value(lower, values), t);
      out += lower != t.letter ? url_escape(v) : v;
    }
    if (out.size() > kMaxExpansion) return std::nullopt;
  }
  return out;
}

// ---- records ----

bool is_spf_record(std::string_view txt) {
  return mail::istarts_with(txt, "v=spf1") && (txt.size() == 6 || txt[6] == ' ');
}

namespace {

struct MechName {
  std::string_view name;
  MechanismKind kind;
};
constexpr MechName kMechanisms[] = {
    {"all", MechanismKind::kAll}, {"include", MechanismKind::kInclude},
    {"a", MechanismKind::kA},     {"mx", MechanismKind::kMx},
    {"ptr", MechanismKind::kPtr}, {"ip4", MechanismKind::kIp4},
    {"ip6", MechanismKind::kIp6}, {"exists", MechanismKind::kExists},
};

// One mechanism term; false with `error` on a syntax error.
bool parse_mechanism(std::string_view term, Mechanism& m, std::string& error) {
  m.text = std::string(term);
  std::string_view t = term;
  if (t.front() == '+' || t.front() == '-' || t.front() == '~' || t.front() == '?') {
    m.qualifier = static_cast<Qualifier>(t.front());
    t.remove_prefix(1);
  }
  std::size_t end = t.find_first_of(":/");
  std::string_view name = t.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view() : t.substr(end);
  const MechName* found = nullptr;
  for (const auto& k : kMechanisms)
    if (iequals(k.name, name)) found = &k;
  if (!found) {
    error = "unknown mechanism \"" + std::string(term) + "\"";
    return false;
  }
  m.kind = found->kind;
  auto bad = [&](const char* why) {
    error = std::string(why) + " in \"" + std::string(term) + "\"";
    return false;
  };
  auto domain = [&](std::string_view spec) {
    std::string why;
    if (!valid_domain_spec(spec, &why)) {
      error = why + " in \"" + std::string(term) + "\"";
      return false;
    }
    m.domain_spec = std::string(spec);
    return true;
  };
  switch (m.kind) {
    case MechanismKind::kAll:
      return rest.empty() || bad("arguments to all");
    case MechanismKind::kInclude:
    case MechanismKind::kExists:
      if (rest.size() < 2 || rest[0] != ':') return bad("missing domain");
      return domain(rest.substr(1));
    case MechanismKind::kPtr:
      if (rest.empty()) return true;
      if (rest.size() < 2 || rest[0] != ':') return bad("malformed argument");
      return domain(rest.substr(1));
    case MechanismKind::kA:
    case MechanismKind::kMx: {
      if (rest.empty()) return true;
      if (!strip_dual_cidr(rest, m.cidr4, m.cidr6)) return bad("invalid CIDR length");
      if (rest.empty()) return true;
      if (rest.size() < 2 || rest[0] != ':') return bad("malformed argument");
      return domain(rest.substr(1));
    }
    case MechanismKind::kIp4:
    case MechanismKind::kIp6: {
      bool v6 = m.kind == MechanismKind::kIp6;
      if (rest.size() < 2 || rest[0] != ':') return bad("missing address");
      rest.remove_prefix(1);
      std::size_t slash = rest.find('/');
      auto addr = v6 ? IpAddress::parse_v6(rest.substr(0, slash))
                     : IpAddress::parse_v4(rest.substr(0, slash));
      if (!addr) return bad("invalid address");
      m.network = *addr;
      if (slash != std::string_view::npos) {
        auto v = cidr_value(rest.substr(slash + 1), v6 ? 128 : 32);
        if (!v) return bad("invalid CIDR length");
        (v6 ? m.cidr6 : m.cidr4) = *v;
      }
      return true;
    }
  }
  return bad("unknown mechanism");
}

}  // namespace

SpfParse parse_spf_record(std::string_view txt) {
  SpfParse out;
  if (txt.size() > kMaxRecordLength) {
    out.error = "SPF record longer than " + std::to_string(kMaxRecordLength) + " octets";
    return out;
  }
  if (!is_spf_record(txt)) {
    out.error = "not an SPF record";
    return out;
  }
  SpfRecord rec;
  std::string_view rest = txt.substr(6);
  while (!rest.empty()) {
    std::size_t b = rest.find_first_not_of(' ');
    if (b == std::string_view::npos) break;
    rest.remove_prefix(b);
    std::size_t e = rest.find(' ');
    std::string_view term = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e);
    for (char c : term) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x21 || u > 0x7e) {
        out.error = "invalid character in SPF record";
        return out;
      }
    }
    // A modifier is name "=" with name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
    std::size_t n = 0;
    if (is_alpha(term[0])) {
      n = 1;
      while (n < term.size() &&
             (is_alnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.'))
        ++n;
    }
    if (n > 0 && n < term.size() && term[n] == '=') {
      std::string_view name = term.substr(0, n), value = term.substr(n + 1);
      std::string why;
      bool redirect = iequals(name, "redirect"), exp = iequals(name, "exp");
      if (redirect || exp) {
        auto& slot = redirect ? rec.redirect : rec.explanation;
        if (slot) {
          out.error = "more than one " + std::string(redirect ? "redirect" : "exp") + " modifier";
          return out;
        }
        if (!valid_domain_spec(value, &why)) {
          out.error = why + " in \"" + std::string(term) + "\"";
          return out;
        }
        slot = std::string(value);
      } else if (!valid_macro_string(value, MacroMode::kDomainSpec, &why)) {
        out.error = why + " in \"" + std::string(term) + "\"";  // unknown modifiers: §6
        return out;
      }
      continue;
    }
    Mechanism m;
    if (!parse_mechanism(term, m, out.error)) return out;
    rec.mechanisms.push_back(std::move(m));
  }
  out.record = std::move(rec);
  return out;
}

}  // namespace tegami::mailauth
