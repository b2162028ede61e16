#include "mail/auth_results.hpp"

#include "mail/ascii.hpp"

namespace tegami::mail {

namespace {

// Drops comments and splits on ';' outside quoted strings.
std::vector<std::string> split_clean(std::string_view v) {
  std::vector<std::string> parts(1);
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quoted) {
      if (c == '\\' && i + 1 < v.size()) {
        parts.back().push_back(v[++i]);
      } else if (c == '"') {
        quoted = false;
      } else {
        parts.back().push_back(c);
      }
    } else if (depth > 0) {
      if (c == '\\') ++i;
      if (c == '(') ++depth;
      if (c == ')') --depth;
    } else if (c == '(') {
      depth = 1;
      parts.back().push_back(' ');
    } else if (c == '"') {
      quoted = true;
    } else if (c == ';') {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    std::size_t b = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

}  // namespace

std::string AuthResult::property(std::string_view name) const {
  for (const auto& [k, v] : properties)
    if (iequals(k, name)) return v;
  return "";
}

AuthResults parse_auth_results(std::string_view value) {
  AuthResults ar;
  auto parts = split_clean(value);
  auto head = words(parts[0]);
  if (head.empty()) {
    ar.problems.push_back("no authserv-id");
    return ar;
  }
  ar.authserv_id = to_lower(head[0]);
  for (std::size_t p = 1; p < parts.size(); ++p) {
    // "method = result" may carry spaces around '='; glue them first.
    std::string part;
    for (char c : parts[p]) {
      if (c == '=' && !part.empty()) {
        while (!part.empty() && is_space(part.back())) part.pop_back();
      }
      if (is_space(c) && !part.empty() && part.back() == '=') continue;
      part.push_back(c);
    }
    auto w = words(part);
    if (w.empty()) continue;
    if (iequals(w[0], "none")) continue;
    std::size_t eq = w[0].find('=');
    if (eq == std::string_view::npos || eq == 0) {
      ar.problems.push_back("unreadable result '" + std::string(trim(part)) + "'");
      continue;
    }
    AuthResult r;
    std::string_view method = w[0].substr(0, eq);
    method = method.substr(0, method.find('/'));  // "dkim/1"
    r.method = to_lower(method);
    r.result = to_lower(w[0].substr(eq + 1));
    for (std::size_t i = 1; i < w.size(); ++i) {
      std::size_t e = w[i].find('=');
      if (e == std::string_view::npos || e == 0) continue;
      r.properties.emplace_back(to_lower(w[i].substr(0, e)), std::string(w[i].substr(e + 1)));
    }
    ar.results.push_back(std::move(r));
  }
  return ar;
}

}  // namespace tegami::mail
