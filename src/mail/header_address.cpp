#include "mail/header_address.hpp"

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

}  // namespace tegami::mail
