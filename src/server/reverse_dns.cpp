#include "server/reverse_dns.hpp"

#include <asio/experimental/concurrent_channel.hpp>

#include "core/log.hpp"

namespace tegami::server {

using namespace asio::experimental::awaitable_operators;

// The answer travels from the resolver's strand to the waiting session over
// a thread-safe channel; the session stops waiting at its deadline, the
// lookup may complete later into the channel nobody reads.
struct ReverseDns::Pending {
  explicit Pending(const asio::any_io_executor& ex) : answer(ex, 1) {}
  asio::experimental::concurrent_channel<void(std::error_code, std::string)> answer;
};

ReverseDns::ReverseDns(asio::io_context& ioc, std::chrono::milliseconds timeout)
    : strand_(asio::make_strand(ioc)), timeout_(timeout) {}

ReverseDns::~ReverseDns() = default;

Result<std::unique_ptr<ReverseDns>> ReverseDns::create(asio::io_context& ioc,
                                                       const std::vector<std::string>& servers,
                                                       std::chrono::milliseconds timeout) {
  std::unique_ptr<ReverseDns> r(new ReverseDns(ioc, timeout));
  auto resolver = net::DnsResolver::create(r->strand_, servers);
  if (!resolver) return fail(resolver.error());
  r->resolver_ = std::move(*resolver);
  return r;
}

net::awaitable<void> ReverseDns::run(std::shared_ptr<Pending> pending, asio::ip::address address) {
  std::string name = co_await resolver_->verified_name(address);
  --in_flight_;
  pending->answer.try_send(std::error_code(), std::move(name));
}

net::awaitable<std::string> ReverseDns::lookup(const std::string& ip) {
  if (timeout_.count() <= 0) co_return std::string();  // "0s": no reverse lookups
  std::error_code bad;
  auto address = asio::ip::make_address(ip, bad);
  if (bad) co_return std::string();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  if (in_flight_.fetch_add(1) >= kMaxInFlight) {
    --in_flight_;
    if (!overload_logged_.exchange(true))
      spdlog::warn("reverse DNS: {} lookups in flight; new clients are 'unknown' for now",
                   kMaxInFlight);
    co_return std::string();
  }
  overload_logged_ = false;
  auto ex = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(ex);
  asio::co_spawn(strand_, run(pending, address), asio::detached);
  asio::steady_timer deadline(ex, timeout_);
  auto which =
      co_await (pending->answer.async_receive(net::kNoThrow) || deadline.async_wait(net::kNoThrow));
  if (which.index() == 0) {
    auto& [ec, name] = std::get<0>(which);
    if (!ec) co_return name;
    co_return std::string();
  }
  spdlog::info("reverse DNS for {} timed out after {} ms: unknown", ip, timeout_.count());
  co_return std::string();
}

}  // namespace tegami::server
