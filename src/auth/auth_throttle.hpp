// AuthThrottle: slows down password guessing per client IP (CHECKLIST:
// failures delayed 2 s, doubling per client IP up to 15 s).
//
// The n-th failure from an IP within kWindow waits min(2 s * 2^(n-1), 15 s)
// before its answer. Repeating the *same* wrong credentials is not counted
// again (a phone still holding an old password must not lock its owner out
// faster), though it is still delayed. A success clears the IP's record.
// Memory is bounded: at most kMaxTracked IPs, the stalest forgotten first.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tegami {

class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kBaseDelay{2};
  static constexpr std::chrono::seconds kMaxDelay{15};
  static constexpr std::chrono::minutes kWindow{15};
  static constexpr std::size_t kMaxTracked = 100000;

  // Records a failure and returns how long to wait before answering it.
  // `fingerprint` identifies the credentials tried (e.g. a hash of user and
  // password); the same fingerprint twice in a row counts once.
  std::chrono::milliseconds failure(const std::string& ip, std::uint64_t fingerprint,
                                    Clock::time_point now = Clock::now());
  void success(const std::string& ip);
  // Failures counted for `ip` in the current window.
  unsigned failures(const std::string& ip, Clock::time_point now = Clock::now()) const;

  static std::uint64_t fingerprint(std::string_view user, std::string_view secret);

 private:
  struct Entry {
    unsigned count = 0;
    std::uint64_t last_fingerprint = 0;
    Clock::time_point last;
  };
  void evict_locked(Clock::time_point now);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace tegami
