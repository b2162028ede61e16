// Admission of a new connection, shared by the SMTP and POP3 listeners:
// the per-IP and total limits (net::ConnectionRegistry), the deadline
// watchdog, and the interrupt a graceful stop uses.
//
// A refused connection gets `refusal(admit)` written (when not empty; the
// implicit-TLS listeners pass an empty text: their clients expect a
// handshake, not clear text) within a short deadline, and is closed.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "net/connection_registry.hpp"
#include "net/session_stream.hpp"
#include "server/server_context.hpp"

namespace tegami::server {

// One client connection, shared between its driver and the stop interrupt.
struct Connection {
  explicit Connection(net::tcp::socket s) : stream(std::move(s)) {}
  net::SessionStream stream;
  bool idle = false;  // waiting for the client's next command: a stop may cancel the read
  bool stop_requested = false;
};

// The connection when admitted (keep `ticket` alive for the whole session),
// else nullptr after the refusal was written and the socket closed.
// `service` names the listener in the log.
net::awaitable<std::shared_ptr<Connection>> admit_connection(
    ServerContext& ctx, net::tcp::socket socket, const char* service,
    const std::function<std::string(net::ConnectionRegistry::Admit)>& refusal,
    net::ConnectionRegistry::Ticket& ticket);

}  // namespace tegami::server
