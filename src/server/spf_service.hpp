// SpfService: SPF (RFC 7208) for the SMTP sessions (issue 17), the way
// ReverseDns does reverse lookups: the check runs with c-ares on this
// service's own strand, never on a worker thread, bounded by one deadline
// per check ([spf] timeout) and by kMaxInFlight checks at once (beyond
// that a check is a temperror at once, logged once per burst).
//
// Which sessions are checked is the SMTP driver's decision (the smtp
// listener, clients neither authenticated nor in trusted_networks).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "dkim/dkim_verifier.hpp"
#include "mailauth/spf.hpp"
#include "net/asio.hpp"
#include "net/dns_resolver.hpp"

namespace tegami::server {

class SpfService {
 public:
  static constexpr std::size_t kMaxInFlight = 2000;

  static Result<std::unique_ptr<SpfService>> create(asio::io_context& ioc,
                                                    const std::vector<std::string>& servers,
                                                    std::chrono::milliseconds timeout);
  ~SpfService();

  // The outcome for `query`; temperror on timeout or overload.
  net::awaitable<mailauth::SpfOutcome> check(mailauth::SpfQuery query);
  // The DKIM key records `verifier` asks for (issue 17), on the same strand
  // and resolver, within the same timeout; unanswered keys are temperror.
  net::awaitable<void> dkim_keys(dkim::DkimVerifier& verifier);

 private:
  SpfService(asio::io_context& ioc, std::chrono::milliseconds timeout);

  asio::strand<asio::io_context::executor_type> strand_;
  std::unique_ptr<net::DnsResolver> resolver_;  // used on strand_ only
  std::chrono::milliseconds timeout_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<bool> overload_logged_{false};
};

}  // namespace tegami::server
