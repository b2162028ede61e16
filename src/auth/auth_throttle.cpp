#include "auth/auth_throttle.hpp"

#include <algorithm>
#include <functional>

namespace tegami {

std::chrono::milliseconds AuthThrottle::failure(const std::string& ip, std::uint64_t fingerprint,
                                                Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (entries_.size() >= kMaxTracked && !entries_.count(ip)) evict_locked(now);
  auto& e = entries_[ip];
  if (e.count > 0 && now - e.last > kWindow) e = Entry{};
  if (e.count == 0 || e.last_fingerprint != fingerprint) ++e.count;
  e.last_fingerprint = fingerprint;
  e.last = now;
  unsigned shift = std::min(e.count - 1, 4u);
  auto d = std::chrono::milliseconds(kBaseDelay) * (1u << shift);
  return std::min<std::chrono::milliseconds>(d, kMaxDelay);
}

void AuthThrottle::success(const std::string& ip) {
  std::lock_guard lock(mu_);
  entries_.erase(ip);
}

unsigned AuthThrottle::failures(const std::string& ip, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end() || now - it->second.last > kWindow) return 0;
  return it->second.count;
}

std::uint64_t AuthThrottle::fingerprint(std::string_view user, std::string_view secret) {
  // Only compared for equality in memory, never stored or logged.
  auto h1 = std::hash<std::string_view>{}(user);
  auto h2 = std::hash<std::string_view>{}(secret);
  return static_cast<std::uint64_t>(h1) * 1000003u ^ static_cast<std::uint64_t>(h2);
}

void AuthThrottle::evict_locked(Clock::time_point now) {
  // Forget entries outside the window; if none, the stalest one.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now - it->second.last > kWindow)
      it = entries_.erase(it);
    else
      ++it;
  }
  if (entries_.size() < kMaxTracked) return;
  auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                 [](auto& a, auto& b) { return a.second.last < b.second.last; });
  if (oldest != entries_.end()) entries_.erase(oldest);
}

}  // namespace tegami
