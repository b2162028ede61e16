#include "net/connection_registry.hpp"

#include <vector>

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

ConnectionRegistry::Admit ConnectionRegistry::admit(const std::string& ip,
                                                    std::function<void()> interrupt,
                                                    Ticket& ticket) {
  std::lock_guard lock(mu_);
  if (stopping_) return Admit::Stopping;
  if (sessions_.size() >= max_total_) return Admit::TooMany;
  auto& n = per_ip_[ip];
  if (n >= max_per_ip_) return Admit::TooManyFromIp;
  ++n;
  auto id = next_id_++;
  sessions_.emplace(id, Entry{ip, std::move(interrupt)});
  ticket = Ticket(this, id);
  return Admit::Ok;
}

void ConnectionRegistry::remove(std::uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  auto pit = per_ip_.find(it->second.ip);
  if (pit != per_ip_.end() && --pit->second == 0) per_ip_.erase(pit);
  sessions_.erase(it);
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

std::size_t ConnectionRegistry::active() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace tegami::net
