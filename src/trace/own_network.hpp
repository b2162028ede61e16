// What the operator calls "ours": domains, relay host globs and networks
// (`--own-domain`, `--own-relay`, or the server's configuration).
//
// Invariants: domains are stored lower case without a trailing dot; a relay
// pattern is a CIDR when it parses as one (core/config.hpp parse_cidr),
// otherwise a host glob where '*' matches any run of characters (dots
// included) and '?' one character, compared case-insensitively.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"

namespace tegami::trace {

class OwnNetwork {
 public:
  void add_domain(std::string_view domain);
  void add_relay(std::string_view pattern);
  void add_network(const Cidr& net) { networks_.push_back(net); }

  bool empty() const { return domains_.empty() && globs_.empty() && networks_.empty(); }
  const std::vector<std::string>& domains() const { return domains_; }

  // The domain is one of ours or below one of ours.
  bool is_own_domain(std::string_view domain) const;
  // A receiving host of ours: a relay glob matches it, or it lies in one of our domains.
  bool is_own_host(std::string_view host) const;
  // The address is inside one of our networks.
  bool is_own_ip(std::string_view ip) const;
  // A relay glob matches the name (verified names only: callers pass rDNS).
  bool matches_relay_glob(std::string_view host) const;

 private:
  std::vector<std::string> domains_;
  std::vector<std::string> globs_;
  std::vector<Cidr> networks_;
};

// Case-insensitive glob: '*' any run, '?' one character.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace tegami::trace
