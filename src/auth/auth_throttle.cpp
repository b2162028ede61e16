#include "auth/auth_throttle.hpp"

#include <algorithm>
#include <cctype>
#include <functional>

#include "core/network_key.hpp"

namespace tegami {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

std::string AuthThrottle::network(std::string_view ip) const {
  return network_key(ip, settings_.ipv6_prefix);
}

const AuthThrottle::Entry* AuthThrottle::find_locked(const std::string& key,
                                                     Clock::time_point now) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || now - it->second.last > settings_.window) return nullptr;
  return &it->second;
}

bool AuthThrottle::locked_locked(const std::string& key, Clock::time_point now) const {
  const auto* e = find_locked(key, now);
  auto p = pending_.find(key);
  const unsigned total = (e == nullptr ? 0 : e->total) + (p == pending_.end() ? 0 : p->second);
  return total >= settings_.limit;
}

bool AuthThrottle::locked(std::string_view ip, Clock::time_point now) const {
  const auto key = network(ip);
  std::lock_guard lock(mu_);
  return locked_locked(key, now);
}

AuthThrottle::Attempt AuthThrottle::begin(std::string_view ip, Clock::time_point now) {
  auto key = network(ip);
  std::lock_guard lock(mu_);
  if (locked_locked(key, now)) return Attempt{};
  ++pending_[key];
  return Attempt(this, std::move(key));
}

unsigned AuthThrottle::in_progress(std::string_view ip) const {
  const auto key = network(ip);
  std::lock_guard lock(mu_);
  auto p = pending_.find(key);
  return p == pending_.end() ? 0 : p->second;
}

void AuthThrottle::end_attempt(const std::string& key) {
  std::lock_guard lock(mu_);
  auto p = pending_.find(key);
  if (p != pending_.end() && --p->second == 0) pending_.erase(p);
}

AuthThrottle::Attempt& AuthThrottle::Attempt::operator=(Attempt&& o) noexcept {
  if (this != &o) {
    release();
    throttle_ = o.throttle_;
    key_ = std::move(o.key_);
    o.throttle_ = nullptr;
  }
  return *this;
}

void AuthThrottle::Attempt::release() {
  if (throttle_ != nullptr) throttle_->end_attempt(key_);
  throttle_ = nullptr;
}

std::chrono::milliseconds AuthThrottle::failure(std::string_view ip, std::string_view user,
                                                std::uint64_t fingerprint, Clock::time_point now) {
  const auto key = network(ip);
  const auto name = lower(user);
  std::lock_guard lock(mu_);
  if (entries_.size() >= kMaxTracked && !entries_.count(key)) evict_locked(now);
  auto& e = entries_[key];
  if (e.total > 0 && now - e.last > settings_.window) e = Entry{};
  e.last = now;
  auto acct = std::find_if(e.accounts.begin(), e.accounts.end(),
                           [&](const Account& a) { return a.user == name; });
  if (acct == e.accounts.end()) {
    ++e.total;
    if (e.accounts.size() < kMaxAccountsPerNetwork)
      e.accounts.push_back(Account{name, 1, fingerprint});
  } else if (acct->last_fingerprint != fingerprint) {
    ++e.total;
    ++acct->count;
    acct->last_fingerprint = fingerprint;
  }
  const unsigned shift = std::min(std::max(e.total, 1u) - 1, 4u);
  const auto cap = std::max<std::chrono::milliseconds>(kMaxDelay, settings_.base_delay);
  return std::min<std::chrono::milliseconds>(settings_.base_delay * (1u << shift), cap);
}

void AuthThrottle::success(std::string_view ip, std::string_view user) {
  const auto key = network(ip);
  const auto name = lower(user);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  auto& e = it->second;
  auto acct = std::find_if(e.accounts.begin(), e.accounts.end(),
                           [&](const Account& a) { return a.user == name; });
  if (acct == e.accounts.end()) return;
  e.total -= std::min(e.total, acct->count);
  e.accounts.erase(acct);
  if (e.total == 0) entries_.erase(it);
}

unsigned AuthThrottle::failures(std::string_view ip, Clock::time_point now) const {
  const auto key = network(ip);
  std::lock_guard lock(mu_);
  const auto* e = find_locked(key, now);
  return e == nullptr ? 0 : e->total;
}

unsigned AuthThrottle::failures(std::string_view ip, std::string_view user,
                                Clock::time_point now) const {
  const auto key = network(ip);
  const auto name = lower(user);
  std::lock_guard lock(mu_);
  const auto* e = find_locked(key, now);
  if (e == nullptr) return 0;
  for (const auto& a : e->accounts)
    if (a.user == name) return a.count;
  return 0;
}

std::size_t AuthThrottle::tracked() const {
  std::lock_guard lock(mu_);
  return entries_.size();
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
    if (now - it->second.last > settings_.window)
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
