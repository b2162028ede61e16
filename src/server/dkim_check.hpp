// lookup_dkim_keys(): answers a DkimVerifier's key questions (dkim/
// dkim_verifier.hpp) with TXT lookups through the c-ares DnsResolver, on
// the resolver's strand, under one deadline, as check_spf() does for SPF.
//
// Meant to run as soon as verifier.header_done(), while the body is still
// arriving (the SMTP intake feeds body pieces to the same verifier on the
// same strand between awaits), so key lookups overlap with DATA; then
// verifier.finish() and verifier.results() at end of data.
//
// A lookup that fails or is cut short by the deadline is fed as a
// temporary failure: the signature's result is then `temperror` (RFC 6376
// §6.1.2: "temporarily unavailable"), which is exactly right for DKIM. A
// name c-ares refuses as malformed is answered as NXDOMAIN.
//
// Invariants: call on the resolver's executor; the resolver and the
// verifier must outlive the coroutine. Not wired into the SMTP session yet
// (issue 17).
#pragma once

#include <chrono>

#include "dkim/dkim_verifier.hpp"
#include "net/asio.hpp"
#include "net/dns_resolver.hpp"

namespace tegami::server {

// Budget for all key lookups of one message (a few slow round trips).
inline constexpr std::chrono::seconds kDkimKeyTimeout{20};

net::awaitable<void> lookup_dkim_keys(net::DnsResolver& resolver, dkim::DkimVerifier& verifier,
                                      std::chrono::steady_clock::time_point deadline);

}  // namespace tegami::server
