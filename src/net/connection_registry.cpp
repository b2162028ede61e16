#include "net/connection_registry.hpp"

#include <vector>

#include "core/log.hpp"
#include "core/network_key.hpp"

namespace tegami::net {

ConnectionRegistry::Ticket& ConnectionRegistry::Ticket::operator=(Ticket&& o) noexcept {
  if (this != &o) {
    release();
    reg_ = o.reg_;
    id_ = o.id_;
    o.reg_ = nullptr;
  }
  return *this;
}

void ConnectionRegistry::Ticket::release() {
  if (reg_) reg_->remove(id_);
  reg_ = nullptr;
}

std::string ConnectionRegistry::network(const std::string& ip) const {
  return network_key(ip, ipv6_prefix_);
}

ConnectionRegistry::Admit ConnectionRegistry::admit(const std::string& ip,
                                                    std::function<void()> interrupt, Ticket& ticket,
                                                    std::function<void()> on_stress) {
  auto key = network(ip);
  std::vector<std::function<void()>> calls;
  std::unique_lock lock(mu_);
  if (stopping_) return Admit::Stopping;
  if (sessions_.size() >= max_total_) return Admit::TooMany;
  auto it = per_network_.find(key);
  if (it != per_network_.end() && it->second >= max_per_network_) return Admit::TooManyFromNetwork;
  if (it == per_network_.end()) it = per_network_.emplace(key, 0).first;
  ++it->second;
  auto id = next_id_++;
  sessions_.emplace(id, Entry{std::move(key), std::move(interrupt), std::move(on_stress)});
  if (update_stress_locked())
    for (auto& [sid, e] : sessions_)
      if (e.on_stress) calls.push_back(e.on_stress);
  ticket = Ticket(this, id);
  lock.unlock();
  for (auto& c : calls) c();
  return Admit::Ok;
}

void ConnectionRegistry::remove(std::uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  auto pit = per_network_.find(it->second.network);
  if (pit != per_network_.end() && --pit->second == 0) per_network_.erase(pit);
  sessions_.erase(it);
  update_stress_locked();
}

bool ConnectionRegistry::update_stress_locked() {
  const std::size_t n = sessions_.size();
  if (!stressed_ && n * 5 >= max_total_ * 4) {
    stressed_ = true;
    spdlog::warn("stress mode on: {} of {} connections; idle and command timeouts are {}s", n,
                 max_total_, kStressTimeout.count());
    return true;
  }
  if (stressed_ && n * 5 < max_total_ * 3) {
    stressed_ = false;
    spdlog::info("stress mode off: {} of {} connections", n, max_total_);
  }
  return false;
}

bool ConnectionRegistry::stressed() const {
  std::lock_guard lock(mu_);
  return stressed_;
}

void ConnectionRegistry::interrupt_all() {
  std::vector<std::function<void()>> calls;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [id, e] : sessions_) calls.push_back(e.interrupt);
  }
  for (auto& c : calls)
    if (c) c();
}

bool ConnectionRegistry::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

std::size_t ConnectionRegistry::active_from(const std::string& ip) const {
  auto key = network(ip);
  std::lock_guard lock(mu_);
  auto it = per_network_.find(key);
  return it == per_network_.end() ? 0 : it->second;
}

std::size_t ConnectionRegistry::active() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace tegami::net
