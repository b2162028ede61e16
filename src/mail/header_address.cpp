#include "mail/header_address.hpp"

#include <cstdint>
#include <vector>

#include "mail/ascii.hpp"

namespace tegami::mail {

namespace {

// The field with comments and quoted strings blanked out, so that '<', '@'
// and ',' inside them are not taken for syntax. Same length as the input.
std::string mask(std::string_view s) {
  std::string out(s);
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\' && i + 1 < out.size()) {
        out[i] = out[i + 1] = ' ';
        ++i;
        continue;
      }
      if (c == '"') quoted = false;
      out[i] = ' ';
    } else if (depth > 0) {
      if (c == '\\' && i + 1 < out.size()) {
        out[i] = out[i + 1] = ' ';
        ++i;
        continue;
      }
      if (c == '(') ++depth;
      if (c == ')') --depth;
      out[i] = ' ';
    } else if (c == '"') {
      quoted = true;
      out[i] = ' ';
    } else if (c == '(') {
      depth = 1;
      out[i] = ' ';
    }
  }
  return out;
}

HeaderAddress from_spec(std::string_view spec) {
  HeaderAddress a;
  spec = trim(spec);
  if (spec.size() > 1 && spec.back() == '.' && spec.find('@') != std::string_view::npos)
    spec.remove_suffix(1);
  a.addr_spec = std::string(spec);
  std::size_t at = spec.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view d = trim(spec.substr(at + 1));
    if (!d.empty() && d.back() == '.') d.remove_suffix(1);
    a.domain = to_lower(d);
  }
  return a;
}

}  // namespace

HeaderAddress first_address(std::string_view v) {
  std::string m = mask(v);
  // First mailbox ends at a top-level ',' (outside angle brackets).
  std::size_t end = m.size();
  bool in_angle = false;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '<') in_angle = true;
    if (m[i] == '>') in_angle = false;
    if (m[i] == ',' && !in_angle) {
      end = i;
      break;
    }
  }
  std::size_t group = m.find(':');
  std::size_t lt = m.find('<');
  if (group != std::string::npos && group < end && (lt == std::string::npos || group < lt) &&
      m.find('@') > group) {
    // "Group: a@b, c@d;" -- the first member.
    std::string_view rest = v.substr(group + 1);
    return first_address(rest.substr(0, rest.find(';')));
  }
  if (lt != std::string::npos && lt < end) {
    std::size_t gt = m.find('>', lt);
    std::string_view inner = v.substr(lt + 1, (gt == std::string::npos ? m.size() : gt) - lt - 1);
    // Strip an obsolete route ("<@a,@b:local@domain>").
    if (!inner.empty() && inner.front() == '@' && inner.find(':') != std::string_view::npos)
      inner = inner.substr(inner.find(':') + 1);
    return from_spec(inner);
  }
  // A bare addr-spec: the word holding '@', with comments removed.
  std::size_t at = m.find('@');
  if (at == std::string::npos || at >= end) return from_spec(std::string_view(m).substr(0, 0));
  std::size_t b = at, e = at;
  while (b > 0 && !is_space(m[b - 1])) --b;
  while (e < end && !is_space(m[e])) ++e;
  std::string spec;
  for (std::size_t i = b; i < e; ++i)
    if (m[i] != ' ') spec.push_back(v[i]);
  return from_spec(spec);
}

// ---- parse_mailbox_list: the strict reading (RFC 5322 section 3.4) ----

namespace {

enum class Tok : std::uint8_t { kAtom, kQuoted, kLiteral, kSpecial, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // atom; quoted-string or domain-literal content, quoted-pairs resolved
  char special = 0;  // kSpecial: one of < > @ , ; : .
};

bool is_atext(unsigned char c) {
  if (c >= 0x80) return true;  // RFC 6532 section 3.2: UTF-8 in atext
  if (is_alpha(static_cast<char>(c)) || is_digit(static_cast<char>(c))) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

// Characters that may not appear even inside quotes or comments (obs-qtext
// and obs-ctext allow most controls; a header field used for a policy
// decision has no business with them).
bool is_forbidden_control(unsigned char c) {
  return (c < 0x20 && c != '\t') || c == 0x7f;
}

// Splits the value into tokens, dropping folding white space and comments
// (CFWS). Returns an error text, or "" when the value could be tokenized.
std::string tokenize(std::string_view v, std::vector<Token>& out) {
  std::size_t i = 0;
  while (i < v.size()) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (is_space(static_cast<char>(c))) {
      ++i;
    } else if (c == '(') {
      int depth = 0;
      do {
        const auto d = static_cast<unsigned char>(v[i]);
        if (is_forbidden_control(d)) return "control character in a comment";
        if (d == '\\') {
          if (i + 1 >= v.size()) return "unterminated comment";
          ++i;
        } else if (d == '(') {
          ++depth;
        } else if (d == ')') {
          --depth;
        }
        ++i;
      } while (depth > 0 && i < v.size());
      if (depth > 0) return "unterminated comment";
    } else if (c == '"' || c == '[') {
      const char close = c == '"' ? '"' : ']';
      Token t{c == '"' ? Tok::kQuoted : Tok::kLiteral, {}, 0};
      ++i;
      bool closed = false;
      while (i < v.size()) {
        const auto d = static_cast<unsigned char>(v[i]);
        if (is_forbidden_control(d)) return "control character in a quoted string";
        if (d == '\\') {
          if (i + 1 >= v.size()) break;
          t.text.push_back(v[i + 1]);
          i += 2;
          continue;
        }
        ++i;
        if (d == static_cast<unsigned char>(close)) {
          closed = true;
          break;
        }
        if (close == ']' && d == '[') return "malformed domain literal";
        t.text.push_back(static_cast<char>(d));
      }
      if (!closed) return c == '"' ? "unterminated quoted string" : "unterminated domain literal";
      out.push_back(std::move(t));
    } else if (std::string_view("<>@,;:.").find(static_cast<char>(c)) != std::string_view::npos) {
      out.push_back(Token{Tok::kSpecial, {}, static_cast<char>(c)});
      ++i;
    } else if (is_atext(c)) {
      Token t{Tok::kAtom, {}, 0};
      while (i < v.size() && is_atext(static_cast<unsigned char>(v[i]))) t.text.push_back(v[i++]);
      out.push_back(std::move(t));
    } else {
      return "unexpected character";
    }
  }
  out.push_back(Token{});
  return {};
}

bool is_dot_atom_text(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c != '.' && !is_atext(static_cast<unsigned char>(c))) return false;
  return true;
}

class ListParser {
 public:
  ListParser(const std::vector<Token>& tokens, bool allow_groups, MailboxList& out)
      : t_(tokens), allow_groups_(allow_groups), out_(out) {}

  void run() {
    if (!list(false)) return;
    if (t_[i_].kind != Tok::kEnd) fail("unexpected text after the addresses");
  }

 private:
  bool is(char special) const { return t_[i_].kind == Tok::kSpecial && t_[i_].special == special; }
  bool is_word() const { return t_[i_].kind == Tok::kAtom || t_[i_].kind == Tok::kQuoted; }
  bool at_end(bool in_group) const { return t_[i_].kind == Tok::kEnd || (in_group && is(';')); }
  bool fail(std::string why) {
    if (out_.error.empty()) out_.error = std::move(why);
    return false;
  }

  // address *("," address), empty elements allowed (RFC 5322 section 4.4).
  bool list(bool in_group) {
    while (true) {
      while (is(',')) ++i_;
      if (at_end(in_group)) return true;
      if (!address(in_group)) return false;
      if (is(',')) continue;
      if (at_end(in_group)) return true;
      return fail("addresses not separated by a comma");
    }
  }

  bool address(bool in_group) {
    const std::size_t start = i_;
    bool words = false;
    while (is_word() || is('.')) {
      words = words || is_word();
      ++i_;
    }
    if (is('<')) {  // [display-name] angle-addr
      ++i_;
      return angle_addr();
    }
    if (is(':')) {  // group: display-name ":" [group-list] ";"
      if (!allow_groups_) return fail("group syntax not allowed here");
      if (in_group) return fail("nested group");
      if (!words) return fail("group without a name");
      ++i_;
      if (!list(true)) return false;
      if (!is(';')) return fail("group not ended by ';'");
      ++i_;
      return true;
    }
    if (is('@')) {  // addr-spec
      std::string local;
      if (!local_part(start, i_, local)) return false;
      ++i_;
      return finish(std::move(local));
    }
    return fail(words ? "a name without an address" : "expected an address");
  }

  bool angle_addr() {
    if (is('>')) return fail("empty address <>");
    if (is('@') || is(',')) {  // obs-route: "@a,@b:" before the addr-spec
      while (is('@') || is(',')) {
        if (is(',')) {
          ++i_;
          continue;
        }
        ++i_;
        std::string ignored;
        if (!domain(ignored)) return false;
      }
      if (!is(':')) return fail("malformed route");
      ++i_;
    }
    const std::size_t start = i_;
    while (is_word() || is('.')) ++i_;
    if (!is('@')) return fail("address without '@'");
    std::string local;
    if (!local_part(start, i_, local)) return false;
    ++i_;
    std::string spec = std::move(local);
    std::string d;
    if (!domain(d)) return false;
    if (!is('>')) return fail("address not closed by '>'");
    ++i_;
    out_.addresses.push_back(spec + "@" + d);
    return true;
  }

  bool finish(std::string local) {
    std::string d;
    if (!domain(d)) return false;
    out_.addresses.push_back(local + "@" + d);
    return true;
  }

  // Words separated by dots; repeated, leading and trailing dots tolerated.
  bool local_part(std::size_t begin, std::size_t end, std::string& out) {
    bool quoted = false;
    bool last_word = false;
    bool any_word = false;
    std::string content;
    for (std::size_t k = begin; k < end; ++k) {
      const Token& tok = t_[k];
      if (tok.kind == Tok::kSpecial) {  // '.'
        content.push_back('.');
        last_word = false;
        continue;
      }
      if (last_word) return fail("words in an address not separated by '.'");
      quoted = quoted || tok.kind == Tok::kQuoted;
      content += tok.text;
      last_word = true;
      any_word = true;
    }
    if (!any_word) return fail("empty local part");
    if (!quoted || is_dot_atom_text(content)) {
      out = std::move(content);
      return true;
    }
    out = "\"";
    for (char c : content) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
    return true;
  }

  // dot-atom (one trailing dot dropped) or a domain literal; lower case.
  bool domain(std::string& out) {
    if (t_[i_].kind == Tok::kLiteral) {
      out = "[" + to_lower(t_[i_].text) + "]";
      ++i_;
      return true;
    }
    if (t_[i_].kind != Tok::kAtom) return fail("missing domain");
    out = to_lower(t_[i_].text);
    ++i_;
    while (is('.')) {
      ++i_;
      if (t_[i_].kind != Tok::kAtom) break;  // a trailing dot
      out += "." + to_lower(t_[i_].text);
      ++i_;
    }
    return true;
  }

  const std::vector<Token>& t_;
  bool allow_groups_;
  MailboxList& out_;
  std::size_t i_ = 0;
};

}  // namespace

MailboxList parse_mailbox_list(std::string_view v, bool allow_groups) {
  MailboxList out;
  std::vector<Token> tokens;
  out.error = tokenize(v, tokens);
  if (out.error.empty()) ListParser(tokens, allow_groups, out).run();
  if (!out.error.empty()) out.addresses.clear();
  return out;
}

}  // namespace tegami::mail
