// Where mail for a domain goes (RFC 5321 §5.1): a static route from
// [relay] routes, else the domain's MX hosts in preference order, else (no
// MX records at all) the domain itself as an implicit MX.
//
// Pure functions: the DNS answers come in, an ordered list of hosts goes
// out; the DeliveryAgent does the lookups and the connecting.
//
// Invariants: a route key is a lower-case domain or "*" (every domain
// without its own route: a smarthost); an exact domain route wins over "*".
// MX hosts are ordered by preference, lowest first; hosts of equal
// preference are shuffled (RFC 5321 §5.1 "randomize" spreads the load) with
// the caller's seed, so tests are deterministic. A null MX (RFC 7505: one
// MX record whose exchange is ".") means the domain accepts no mail.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "net/dns_resolver.hpp"

namespace tegami::server {

struct NextHop {
  std::string host;  // a host name, or an IP address (literal) for routes
  std::uint16_t port = 25;
  bool literal = false;          // `host` is an IP address: no lookup
  std::uint16_t preference = 0;  // the MX preference (0 for routes and implicit MX)
};

// Parses a route value "HOST:PORT", "IP:PORT" or "[IPv6]:PORT".
Result<NextHop> parse_route(const std::string& value);

// The route for `domain` (lower case): exact match, else "*", else none.
std::optional<std::string> route_for(const std::map<std::string, std::string>& routes,
                                     const std::string& domain);

// True when the MX answer is a null MX (RFC 7505 §3).
bool is_null_mx(const std::vector<net::MxRecord>& records);

// MX hosts to try, in order (null-MX entries dropped, duplicates removed).
std::vector<NextHop> order_mx(const std::vector<net::MxRecord>& records, std::uint16_t port,
                              std::uint32_t seed);

// The destination key for connection limits: the route value when routed,
// else the domain.
std::string destination_key(const std::map<std::string, std::string>& routes,
                            const std::string& domain);

// The lower-case domain of an address "local@domain" (after the last '@').
std::string domain_of(const std::string& address);

}  // namespace tegami::server
