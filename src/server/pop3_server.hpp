// The POP3 session driver: one coroutine per connection around the pure
// pop3::ServerSession (DESIGN rules 2 and 7). Credential checks, maildrop
// locking, message reads and the UPDATE commit run on the worker pool.
// Failed logins are delayed per client IP (AuthThrottle); a successful login
// records the POP-before-SMTP grant for the client's IP.
#pragma once

#include "net/asio.hpp"
#include "server/server_context.hpp"

namespace tegami::server {

net::awaitable<void> run_pop3_session(ServerContext& ctx, net::tcp::socket socket);

}  // namespace tegami::server
