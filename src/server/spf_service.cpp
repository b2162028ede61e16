#include "server/spf_service.hpp"

#include "core/log.hpp"
#include "server/dkim_check.hpp"
#include "server/spf_check.hpp"

namespace tegami::server {

SpfService::SpfService(asio::io_context& ioc, std::chrono::milliseconds timeout)
    : strand_(asio::make_strand(ioc)), timeout_(timeout) {}

SpfService::~SpfService() = default;

Result<std::unique_ptr<SpfService>> SpfService::create(asio::io_context& ioc,
                                                       const std::vector<std::string>& servers,
                                                       std::chrono::milliseconds timeout) {
  std::unique_ptr<SpfService> s(new SpfService(ioc, timeout));
  auto resolver = net::DnsResolver::create(s->strand_, servers);
  if (!resolver) return fail(resolver.error());
  s->resolver_ = std::move(*resolver);
  return s;
}

net::awaitable<mailauth::SpfOutcome> SpfService::check(mailauth::SpfQuery query) {
  if (in_flight_.fetch_add(1) >= kMaxInFlight) {
    --in_flight_;
    if (!overload_logged_.exchange(true))
      spdlog::warn("spf: {} checks in flight; new ones are temperror for now", kMaxInFlight);
    mailauth::SpfOutcome o;
    o.result = mailauth::SpfResult::kTempError;
    o.problem = "too many SPF checks in progress";
    co_return o;
  }
  overload_logged_ = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  // check_spf runs on the resolver's strand; the session resumes on its own
  // executor afterwards (co_spawn's completion is dispatched back to it).
  auto outcome = co_await asio::co_spawn(strand_, check_spf(*resolver_, std::move(query), deadline),
                                         asio::use_awaitable);
  --in_flight_;
  co_return outcome;
}

net::awaitable<void> SpfService::dkim_keys(dkim::DkimVerifier& verifier) {
  if (verifier.key_queries().empty()) co_return;
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  co_await asio::co_spawn(strand_, lookup_dkim_keys(*resolver_, verifier, deadline),
                          asio::use_awaitable);
}

}  // namespace tegami::server
