// The SMTP session driver: one coroutine per connection that reads bytes,
// feeds them to the pure smtp::ServerSession and performs its actions
// (DESIGN rules 2 and 7). Recipient checks and deliveries run on the worker
// pool; the reply to DATA is written only after MailboxStore::deliver()
// returned, i.e. after the message and its directory were fsynced.
#pragma once

#include "net/asio.hpp"
#include "server/server_context.hpp"

namespace tegami::server {

// kSmtp and kSubmission offer STARTTLS (RFC 3207) when the server has a TLS
// context; kSubmissions is implicit TLS (RFC 8314 §3): the handshake comes
// before the greeting.
enum class SmtpListener { kSmtp, kSubmission, kSubmissions };

net::awaitable<void> run_smtp_session(ServerContext& ctx, net::tcp::socket socket,
                                      SmtpListener kind);

}  // namespace tegami::server
