// The POP3 session driver: one coroutine per connection around the pure
// pop3::ServerSession (DESIGN rules 2 and 7). Credential checks, maildrop
// locking, message reads and the UPDATE commit run on the worker pool.
// Failed logins are delayed per client IP (AuthThrottle); a successful login
// records the POP-before-SMTP grant for the client's IP.
#pragma once

#include "net/asio.hpp"
#include "server/server_context.hpp"

namespace tegami::server {

// kPop3 offers STLS (RFC 2595 §4) when the server has a TLS context; kPop3s
// is implicit TLS (RFC 8314 §3): the handshake comes before the greeting.
// Clear-text passwords (USER/PASS, AUTH PLAIN) are offered and accepted only
// inside TLS or from [auth] plaintext_networks; APOP always.
enum class Pop3Listener { kPop3, kPop3s };

net::awaitable<void> run_pop3_session(ServerContext& ctx, net::tcp::socket socket,
                                      Pop3Listener kind = Pop3Listener::kPop3);

}  // namespace tegami::server
