// The server side of a TLS handshake, shared by the SMTP and POP3 drivers:
// STARTTLS / STLS upgrades and implicit TLS (submissions, pop3s).
//
// Each handshake takes one slot of the TlsContext's HandshakeLimiter for its
// duration (at most a few per client, issue 14) and runs under the
// limiter's deadline (net::kTlsHandshakeTimeout, shorter under load), so
// clients that open connections and never finish the handshake cannot pile
// up or shut others out (the Dovecot CVE-2014-3430 class). The stream keeps the ssl::context
// current when the handshake began, whatever reloads happen later.
#pragma once

#include <string>
#include <string_view>

#include "net/session_stream.hpp"
#include "net/tls_context.hpp"

namespace tegami::server {

enum class HandshakeResult {
  kOk,        // the stream is encrypted
  kBusy,      // too many handshakes in progress: nothing was sent; close
  kFailed,    // the handshake failed (bad client, wrong protocol, ...): close
  kTimedOut,  // the client did not finish in time: close
};

std::string_view to_string(HandshakeResult r);

// Upgrades `stream` (if it is still plain) and runs the handshake. `log_id`
// ("smtp S12") prefixes the log lines; `client` is the client's network
// (core/network_key.hpp, as the connection limits count it), whose share of
// handshakes is limited. The caller closes the stream unless the result is
// kOk.
net::awaitable<HandshakeResult> server_handshake(net::TlsContext& tls, net::SessionStream& stream,
                                                 const std::string& log_id,
                                                 const std::string& client);

}  // namespace tegami::server
