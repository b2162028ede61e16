// AuthThrottle: password guessing, counted per client network (issue 14;
// CHECKLIST: failures delayed 2 s, doubling up to 15 s).
//
// A client's network is network_key(ip, ipv6_prefix): the IPv4 address, or
// the IPv6 /48 by default (core/network_key.hpp), so that a host cannot
// start afresh from each address of its prefix.
//
// Per network the throttle keeps, within `window` of the network's last
// failure, the counted failures per account name tried (lower-cased, as
// typed) and their total:
//   - The n-th counted failure of the network is answered after
//     min(base_delay * 2^(n-1), max(15 s, base_delay)).
//   - Repeating the *same* wrong credentials for an account is not counted
//     again (a phone still holding an old password must not lock its owner
//     out faster), though it is still delayed.
//   - From `limit` counted failures on, the network is locked(): the drivers
//     refuse it before any password is checked, so a correct guess is worth
//     nothing, until `window` has passed since its last counted failure
//     (refusals do not extend it). Checks in progress count too (begin()
//     hands out an Attempt), so parallel connections cannot slip more
//     guesses past the limit while the hashes are being computed.
//   - A success clears only the failures counted against that account: a
//     login to an attacker's own account does not forgive guesses against
//     others.
// Memory is bounded: at most kMaxTracked networks (those outside the window
// forgotten first, then the stalest), and at most kMaxAccountsPerNetwork
// account records per network; failures beyond those still count in the
// total, which no success clears. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tegami {

class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kMaxDelay{15};
  static constexpr std::size_t kMaxTracked = 100000;
  static constexpr std::size_t kMaxAccountsPerNetwork = 32;

  struct Settings {
    std::chrono::milliseconds base_delay{std::chrono::seconds(2)};
    std::chrono::seconds window{std::chrono::minutes(15)};
    unsigned limit = 10;        // counted failures that lock the network out
    unsigned ipv6_prefix = 48;  // network_key()
  };

  AuthThrottle() : AuthThrottle(Settings{}) {}
  explicit AuthThrottle(Settings settings) : settings_(settings) {}

  // One password check in progress for a network: counts towards the limit
  // until released (after failure() or success() was recorded, or when the
  // check ended otherwise). Move-only; empty when begin() refused.
  class Attempt {
   public:
    Attempt() = default;
    Attempt(Attempt&& o) noexcept : throttle_(o.throttle_), key_(std::move(o.key_)) {
      o.throttle_ = nullptr;
    }
    Attempt& operator=(Attempt&& o) noexcept;
    ~Attempt() { release(); }
    explicit operator bool() const { return throttle_ != nullptr; }
    void release();

   private:
    friend class AuthThrottle;
    Attempt(AuthThrottle* t, std::string key) : throttle_(t), key_(std::move(key)) {}
    AuthThrottle* throttle_ = nullptr;
    std::string key_;
  };

  const Settings& settings() const { return settings_; }
  // The key failures from `ip` are counted under.
  std::string network(std::string_view ip) const;

  // True when `ip`'s network is over the limit (counted failures plus checks
  // in progress): refuse before checking any password.
  bool locked(std::string_view ip, Clock::time_point now = Clock::now()) const;
  // Before checking a password: an Attempt, or an empty one when locked().
  Attempt begin(std::string_view ip, Clock::time_point now = Clock::now());
  // Checks in progress for `ip`'s network.
  unsigned in_progress(std::string_view ip) const;
  // Records a failure of `user` and returns how long to wait before
  // answering it. `fingerprint` identifies the credentials tried (e.g. a
  // hash of user and password); the same fingerprint for the same user
  // again counts once.
  std::chrono::milliseconds failure(std::string_view ip, std::string_view user,
                                    std::uint64_t fingerprint,
                                    Clock::time_point now = Clock::now());
  // `user` logged in: forget the failures counted against it from `ip`'s
  // network (and nothing else).
  void success(std::string_view ip, std::string_view user);
  // Failures counted for `ip`'s network in the current window, in total or
  // against one user.
  unsigned failures(std::string_view ip, Clock::time_point now = Clock::now()) const;
  unsigned failures(std::string_view ip, std::string_view user,
                    Clock::time_point now = Clock::now()) const;
  std::size_t tracked() const;

  static std::uint64_t fingerprint(std::string_view user, std::string_view secret);

 private:
  struct Account {
    std::string user;  // lower-cased
    unsigned count = 0;
    std::uint64_t last_fingerprint = 0;
  };
  struct Entry {
    unsigned total = 0;
    Clock::time_point last;
    std::vector<Account> accounts;  // at most kMaxAccountsPerNetwork
  };
  const Entry* find_locked(const std::string& key, Clock::time_point now) const;
  bool locked_locked(const std::string& key, Clock::time_point now) const;
  void end_attempt(const std::string& key);
  void evict_locked(Clock::time_point now);

  Settings settings_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  // Checks in progress per network; bounded by the open connections.
  std::unordered_map<std::string, unsigned> pending_;
};

}  // namespace tegami
