#include "net/listener.hpp"

#include <cstdio>

#include "core/log.hpp"

namespace tegami::net {

std::vector<tcp::endpoint> Listener::endpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& a : acceptors_) {
    std::error_code ec;
    auto ep = a->local_endpoint(ec);
    if (!ec) out.push_back(ep);
  }
  return out;
}

Result<void> Listener::bind(const std::vector<ListenAddress>& addrs) {
  for (const auto& a : addrs) {
    std::error_code ec;
    auto ip = asio::ip::make_address(a.host, ec);
    if (ec) return fail(Error::perm(service_ + ": bad address " + a.to_string()));
    tcp::endpoint ep(ip, a.port);
    auto acc = std::make_unique<tcp::acceptor>(ioc_);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && ip.is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return fail(
          Error::perm(service_ + ": cannot listen on " + a.to_string() + ": " + ec.message()));
    auto bound = acc->local_endpoint();
    ListenAddress shown{bound.address().to_string(), bound.port()};
    std::fprintf(stderr, "listening %s %s\n", service_.c_str(), shown.to_string().c_str());
    std::fflush(stderr);
    acceptors_.push_back(std::move(acc));
  }
  return {};
}

void Listener::start(SessionFn session) {
  for (auto& acc : acceptors_) {
    asio::co_spawn(ioc_, accept_loop(*acc, session), asio::detached);
  }
}

void Listener::close() {
  for (auto& acc : acceptors_) {
    std::error_code ec;
    acc->close(ec);
  }
}

awaitable<void> Listener::accept_loop(tcp::acceptor& acc, SessionFn session) {
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(asio::make_strand(ioc_), kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
      // EMFILE and friends: log, back off briefly, keep serving.
      spdlog::warn("{}: accept failed: {}", service_, ec.message());
      asio::steady_timer t(ioc_, std::chrono::milliseconds(100));
      co_await t.async_wait(kNoThrow);
      continue;
    }
    auto exec = sock.get_executor();
    asio::co_spawn(exec, session(std::move(sock)), [svc = service_](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("{}: session ended by exception: {}", svc, ex.what());
      }
    });
  }
}

}  // namespace tegami::net
