// What the SMTP and POP3 drivers share around their state machines (issue
// 14: one place, so a limit added for one protocol holds for both):
//  - admission of a new connection: the per-network and total limits
//    (net::ConnectionRegistry), the deadline watchdog, the interrupt a
//    graceful stop uses and the stress-mode notice;
//  - implicit TLS (RFC 8314 §3) before anything else;
//  - the wait for the client's next bytes: replies flushed first, the
//    deadline (shortened in stress mode for an idle wait), a stop request
//    interrupting an idle wait, and what ended the wait;
//  - the end of a session: the last replies under a short deadline, then the
//    TLS close_notify, bounded.
//
// A refused connection gets `refusal(admit)` written (when not empty; the
// implicit-TLS listeners pass an empty text: their clients expect a
// handshake, not clear text) within a short deadline, and is closed.
#pragma once

#include <chrono>
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

// How long the final reply (421, -ERR, a goodbye) may take to write.
inline constexpr auto kFinalWriteTimeout = std::chrono::seconds(10);
// How long we wait for the client's TLS close_notify when the session ends.
inline constexpr auto kTlsShutdownTimeout = std::chrono::seconds(2);

// RFC 8314 §3: the handshake before anything else. False: it failed, the
// stream is closed and the disconnect logged ("<log_id> disconnect ip=...").
net::awaitable<bool> start_implicit_tls(ServerContext& ctx, Connection& conn,
                                        const std::string& log_id, const std::string& network);

// The wait for a command: `configured`, or at most the stress-mode timeout
// while the server is near its connection cap.
std::chrono::seconds command_wait(const ServerContext& ctx, std::chrono::seconds configured);

// Writes and clears `out`; false when the client is gone.
net::awaitable<bool> flush_replies(Connection& conn, std::string& out);

enum class ReadOutcome {
  kData,      // `size` octets are in the buffer
  kTimedOut,  // the deadline passed; the stream has kFinalWriteTimeout for a goodbye
  kStopped,   // an idle wait was interrupted by a server stop
  kClosed,    // the client went away (or a reply could not be written)
};
struct ReadResult {
  ReadOutcome outcome = ReadOutcome::kClosed;
  std::size_t size = 0;
};

// Flushes `out`, then reads into `buf` within `timeout`. `idle`: waiting
// for a command, so a server stop may interrupt it and stress mode may
// shorten it (message data is never interrupted or shortened).
net::awaitable<ReadResult> read_client(Connection& conn, std::string& out, std::string& buf,
                                       std::chrono::steady_clock::duration timeout, bool idle);

// The end of a session: what is left in `out`, within kFinalWriteTimeout.
net::awaitable<void> write_final(Connection& conn, std::string& out);
// Then the TLS close_notify (kTlsShutdownTimeout) and the close.
net::awaitable<void> close_session(Connection& conn);

}  // namespace tegami::server
