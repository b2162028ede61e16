// network_key(): the client "network" that per-client limits count against
// (issue 14: connections per network, auth failures per network).
//
// One host can use every address of the IPv6 prefix it was given (a LAN is a
// /64, RFC 4291 §2.5.4; a site usually a /48 or /56, RFC 6177), so counting
// each IPv6 address separately gives one attacker millions of fresh slots.
// So tegami counts (auth failures use a /48 by default, as Dovecot does):
//   - an IPv4 address as itself ("192.0.2.7");
//   - an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as that IPv4 address;
//   - any other IPv6 address as its network: the address with the bits after
//     `ipv6_prefix` cleared, in canonical form (inet_ntop), then "/prefix"
//     ("2001:db8:1:2::/64"). A zone id ("fe80::1%eth0") is ignored.
// Text that is no IP address is its own key (unchanged), so a caller never
// loses the count, only the grouping.
#pragma once

#include <string>
#include <string_view>

namespace tegami {

// Bounds of a configured IPv6 prefix length (`[limits] ipv6_prefix`,
// `[auth] failure_ipv6_prefix`). A prefix of 0 would put every IPv6 client
// into one network; 128 counts each address separately.
inline constexpr unsigned kMinIpv6Prefix = 1;
inline constexpr unsigned kMaxIpv6Prefix = 128;

// `ipv6_prefix` outside [kMinIpv6Prefix, kMaxIpv6Prefix] is clamped.
std::string network_key(std::string_view ip, unsigned ipv6_prefix);

}  // namespace tegami
