// check_spf(): runs the sans-I/O SPF evaluator (mailauth/spf.hpp) against
// the c-ares DnsResolver, on the resolver's strand, with one deadline for
// the whole check (RFC 7208 §4.6.4 asks for a limit on the time a check
// takes; §11.1: the answers come from whoever controls the domain).
//
// Each DNS question of the evaluator becomes one single-type lookup (TXT, A,
// AAAA, MX, PTR); a name c-ares refuses as malformed is answered as
// NXDOMAIN (it cannot exist). When the deadline passes, the check ends with
// "temperror" at once: an answer cut short is never fed to the evaluator as
// a DNS error, which for PTR would mean "no match" instead of "try later".
// Abandoned queries finish inside c-ares (DnsResolver's heap queries).
//
// Invariants: call on the resolver's executor (a strand); the resolver must
// outlive the coroutine. Not wired into the SMTP session yet (issue 17).
#pragma once

#include <chrono>

#include "mailauth/spf.hpp"
#include "net/asio.hpp"
#include "net/dns_resolver.hpp"

namespace tegami::server {

// A sensible whole-check budget: a few slow round trips, well under the
// SMTP server's command timeouts (RFC 5321 §4.5.3.2: 5 minutes for MAIL).
inline constexpr std::chrono::seconds kSpfCheckTimeout{20};

net::awaitable<mailauth::SpfOutcome> check_spf(net::DnsResolver& resolver, mailauth::SpfQuery query,
                                               std::chrono::steady_clock::time_point deadline);

// The client address as the evaluator wants it (IPv4-mapped IPv6 as IPv4).
mailauth::IpAddress spf_address(const asio::ip::address& address);

}  // namespace tegami::server
