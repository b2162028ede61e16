// GrantStore: POP-before-SMTP grants (DESIGN §1): a successful POP3 login
// records "this IP may relay until T, on behalf of this account"; the
// submission policy asks find(ip, now). See also RFC 5321 §3.9 on relaying.
//
// Invariants: IP addresses are stored in canonical text form (inet_ntop;
// an IPv4-mapped IPv6 address counts as its IPv4 address), one grant per IP
// (a newer login replaces the older grant). A grant is in force while
// now < expires. Failure behaviour: temporary Error when the backing store
// cannot be read or written; a permanent Error for an argument that is not
// an IP address.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tegami {

struct Grant {
  std::string ip;       // canonical textual IP
  std::string account;  // lower-case address that logged in
  std::chrono::system_clock::time_point expires;
};

class GrantStore {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~GrantStore() = default;

  // Records (or replaces) the grant for `ip`, valid until `expires`.
  virtual Result<void> record(const std::string& ip, const std::string& account,
                              TimePoint expires) = 0;
  // The grant in force for `ip` at `now`, if any. A malformed ip finds nothing.
  virtual Result<std::optional<Grant>> find(const std::string& ip, TimePoint now) = 0;
  // All grants in force at `now`, soonest expiry first.
  virtual Result<std::vector<Grant>> list(TimePoint now) = 0;
  // Removes grants expired at `now`; returns how many were removed.
  virtual Result<std::size_t> purge(TimePoint now) = 0;
};

}  // namespace tegami
