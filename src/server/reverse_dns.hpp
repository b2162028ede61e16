// ReverseDns: the client's forward-confirmed host name for the SMTP
// greeting's log line and Received: field (issue 14), looked up with c-ares
// on its own strand, never on a worker thread: a DNS server that never
// answers costs a pending query (a few hundred bytes), not a thread, so it
// cannot delay anyone else's login, greeting or fsync.
//
// lookup() waits at most `timeout` ([dns] reverse_timeout); after that the
// client is "unknown" (like a failed lookup) and served normally, and the
// query finishes (or times out inside c-ares) on its own. At most
// kMaxInFlight lookups run at once; beyond that a client is "unknown" at
// once (logged once per burst), so a flood of connections cannot queue up
// unbounded DNS work. `[dns] servers` applies, as for the outbound queue.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "net/asio.hpp"
#include "net/dns_resolver.hpp"

namespace tegami::server {

class ReverseDns {
 public:
  static constexpr std::size_t kMaxInFlight = 2000;

  static Result<std::unique_ptr<ReverseDns>> create(asio::io_context& ioc,
                                                    const std::vector<std::string>& servers,
                                                    std::chrono::milliseconds timeout);
  ~ReverseDns();

  // "" when there is no confirmed name (no PTR, no match, timeout, overload).
  net::awaitable<std::string> lookup(const std::string& ip);

 private:
  struct Pending;
  ReverseDns(asio::io_context& ioc, std::chrono::milliseconds timeout);
  net::awaitable<void> run(std::shared_ptr<Pending> pending, asio::ip::address address);

  asio::strand<asio::io_context::executor_type> strand_;
  std::unique_ptr<net::DnsResolver> resolver_;  // used on strand_ only
  std::chrono::milliseconds timeout_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<bool> overload_logged_{false};
};

}  // namespace tegami::server
