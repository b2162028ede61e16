#include "trace/own_network.hpp"

#include "mail/ascii.hpp"

namespace tegami::trace {

using mail::ascii_lower;
using mail::iends_with;
using mail::iequals;

namespace {

std::string normal_name(std::string_view s) {
  std::string n = mail::to_lower(mail::trim(s));
  if (n.size() > 1 && n.back() == '.') n.pop_back();
  return n;
}

}  // namespace

bool glob_match(std::string_view p, std::string_view t) {
  // Iterative matcher with one backtrack point: linear in practice.
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || ascii_lower(p[pi]) == ascii_lower(t[ti]))) {
      ++pi, ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

void OwnNetwork::add_domain(std::string_view domain) {
  std::string d = normal_name(domain);
  if (!d.empty()) domains_.push_back(d);
}

void OwnNetwork::add_relay(std::string_view pattern) {
  std::string p(mail::trim(pattern));
  if (p.empty()) return;
  if (auto c = parse_cidr(p)) {
    networks_.push_back(*c);
  } else {
    globs_.push_back(normal_name(p));
  }
}

bool OwnNetwork::is_own_domain(std::string_view domain) const {
  std::string d = normal_name(domain);
  if (d.empty()) return false;
  for (const auto& o : domains_)
    if (d == o || (d.size() > o.size() && iends_with(d, o) && d[d.size() - o.size() - 1] == '.'))
      return true;
  return false;
}

bool OwnNetwork::matches_relay_glob(std::string_view host) const {
  std::string h = normal_name(host);
  if (h.empty()) return false;
  for (const auto& g : globs_)
    if (glob_match(g, h)) return true;
  return false;
}

bool OwnNetwork::is_own_host(std::string_view host) const {
  return matches_relay_glob(host) || is_own_domain(host);
}

bool OwnNetwork::is_own_ip(std::string_view ip) const {
  if (ip.empty()) return false;
  std::string s(ip);
  for (const auto& n : networks_)
    if (n.contains(s)) return true;
  return false;
}

}  // namespace tegami::trace
