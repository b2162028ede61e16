// Listener: binds the configured addresses of one service and runs an
// accept loop that hands each admitted connection to a session coroutine on
// its own strand (admission control is the session's: it knows the
// protocol's words for "too many connections"). After binding it prints `listening SERVICE
// ADDRESS:PORT` to stderr (DESIGN §5), which tests and scripts use to find port-0 listeners.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "net/asio.hpp"

namespace tegami::net {

// Runs one session: the socket is already bound to a strand executor.
using SessionFn = std::function<awaitable<void>(tcp::socket)>;

class Listener {
 public:
  Listener(asio::io_context& ioc, std::string service) : ioc_(ioc), service_(std::move(service)) {}
  // Binds every address (SO_REUSEADDR) and prints the listening line for each.
  Result<void> bind(const std::vector<ListenAddress>& addrs);
  // The bound endpoints (after bind()).
  std::vector<tcp::endpoint> endpoints() const;
  const std::string& service() const { return service_; }
  // Starts the accept loops.
  void start(SessionFn session);
  // Stops accepting; open sessions are not touched.
  void close();

 private:
  awaitable<void> accept_loop(tcp::acceptor& acc, SessionFn session);
  asio::io_context& ioc_;
  std::string service_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
};

}  // namespace tegami::net
