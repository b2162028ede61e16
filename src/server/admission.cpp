#include "server/admission.hpp"

#include "core/log.hpp"

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

}  // namespace tegami::server
