#include "server/admission.hpp"

#include "core/log.hpp"
#include "server/tls_handshake.hpp"

namespace tegami::server {

namespace {
// How long the refusal may take to write.
constexpr auto kRefusalWriteTimeout = std::chrono::seconds(10);
}  // namespace

net::awaitable<std::shared_ptr<Connection>> admit_connection(
    ServerContext& ctx, net::tcp::socket socket, const char* service,
    const std::function<std::string(net::ConnectionRegistry::Admit)>& refusal,
    net::ConnectionRegistry::Ticket& ticket) {
  auto conn = std::make_shared<Connection>(std::move(socket));
  auto exec = conn->stream.executor();
  auto admit = ctx.registry.admit(
      conn->stream.remote_ip(),
      [conn, exec] {
        asio::post(exec, [conn] {
          conn->stop_requested = true;
          if (conn->idle) conn->stream.cancel();
        });
      },
      ticket,
      [conn, exec] {
        // Stress mode: an idle session's wait ends sooner (issue 14).
        asio::post(exec, [conn] {
          if (conn->idle) conn->stream.expires_within(net::ConnectionRegistry::kStressTimeout);
        });
      });
  asio::co_spawn(
      exec, [conn]() { return conn->stream.watchdog(); }, asio::detached);
  if (admit == net::ConnectionRegistry::Admit::Ok) co_return conn;
  const std::string text = refusal(admit);
  const char* why = admit == net::ConnectionRegistry::Admit::TooManyFromNetwork ? "from network"
                    : admit == net::ConnectionRegistry::Admit::Stopping         ? "stopping"
                                                                                : "in total";
  spdlog::warn("{} refused connection ip={}: too many connections {}{}", service,
               conn->stream.remote_ip(), why,
               admit == net::ConnectionRegistry::Admit::TooManyFromNetwork
                   ? " " + ctx.registry.network(conn->stream.remote_ip())
                   : std::string());
  conn->stream.expires_after(kRefusalWriteTimeout);
  if (!text.empty()) co_await conn->stream.write_all(text);
  conn->stream.close();
  co_return nullptr;
}

net::awaitable<bool> start_implicit_tls(ServerContext& ctx, Connection& conn,
                                        const std::string& log_id, const std::string& network) {
  auto r = HandshakeResult::kFailed;
  if (ctx.tls != nullptr) r = co_await server_handshake(*ctx.tls, conn.stream, log_id, network);
  if (r == HandshakeResult::kOk) co_return true;
  conn.stream.close();
  spdlog::info("{} disconnect ip={} tls handshake {}", log_id, conn.stream.remote_ip(),
               to_string(r));
  co_return false;
}

std::chrono::seconds command_wait(const ServerContext& ctx, std::chrono::seconds configured) {
  if (!ctx.registry.stressed()) return configured;
  return std::min<std::chrono::seconds>(configured, net::ConnectionRegistry::kStressTimeout);
}

net::awaitable<bool> flush_replies(Connection& conn, std::string& out) {
  if (out.empty()) co_return true;
  auto ec = co_await conn.stream.write_all(out);
  out.clear();
  co_return !ec;
}

net::awaitable<ReadResult> read_client(Connection& conn, std::string& out, std::string& buf,
                                       std::chrono::steady_clock::duration timeout, bool idle) {
  ReadResult r;
  if (idle && conn.stop_requested) {
    r.outcome = ReadOutcome::kStopped;
    co_return r;
  }
  conn.stream.expires_after(timeout);
  if (!co_await flush_replies(conn, out)) co_return r;
  conn.idle = idle;
  auto [ec, n] = co_await conn.stream.read_some(buf.data(), buf.size());
  conn.idle = false;
  if (!ec) {
    r.outcome = ReadOutcome::kData;
    r.size = n;
  } else if (conn.stream.timed_out()) {
    conn.stream.expires_after(kFinalWriteTimeout);
    r.outcome = ReadOutcome::kTimedOut;
  } else if (ec == asio::error::operation_aborted && conn.stop_requested) {
    r.outcome = ReadOutcome::kStopped;
  }
  co_return r;
}

net::awaitable<void> write_final(Connection& conn, std::string& out) {
  conn.stream.expires_after(kFinalWriteTimeout);
  co_await flush_replies(conn, out);
}

net::awaitable<void> close_session(Connection& conn) {
  co_await conn.stream.shutdown(kTlsShutdownTimeout);
}

}  // namespace tegami::server
