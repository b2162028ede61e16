// The queue's scheduling rules as pure functions (so they are tested
// without sockets or clocks):
//
//  - the first attempt is at once; after the n-th temporary failure the next
//    one is retry[n-1] later, and every retry.back() after the list is used
//    up ([queue] retry, default 5m 15m 30m 1h 2h 4h);
//  - a temporary failure once [queue] lifetime has passed since the message
//    arrived makes the recipient failed (4.4.7, RFC 3463 "delivery time
//    expired"), keeping the last diagnostic; a permanent one at once;
//  - a delay warning is due once, for the recipients still pending whose
//    NOTIFY asks for delays (or who have no NOTIFY: RFC 3461 §4.1 leaves the
//    default to us), when [queue] delay_warning ("0": never) has passed,
//    unless the sender is <>;
//  - a recipient delivered with NOTIFY=SUCCESS to a next hop that did not
//    offer DSN owes a "relayed" DSN (RFC 3461 §5.2.2): relayed_dsn.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "server/delivery_agent.hpp"
#include "store/queue_store.hpp"

namespace tegami::server {

struct QueuePolicy {
  std::vector<std::chrono::seconds> retry;  // never empty (defaults when the config is)
  std::chrono::seconds lifetime{5 * 86400};
  std::chrono::seconds delay_warning{4 * 3600};  // 0: off
};

using TimePoint = std::chrono::system_clock::time_point;

// The wait after `attempts` failed attempts (attempts >= 1).
std::chrono::seconds retry_delay(const QueuePolicy& policy, unsigned attempts);

// Records an attempt's outcome in the recipient. Returns what became of it:
// kDelivered, kFailed (permanent or expired) or kPending (retry later).
RecipientStatus apply_outcome(QueueRecipient& r, const DeliveryOutcome& o, TimePoint now,
                              TimePoint created, const QueuePolicy& policy);

// Pending recipients to try now, grouped by domain. `flush`: all pending ones.
std::map<std::string, std::vector<std::size_t>> due_recipients(const QueueEntry& e, TimePoint now,
                                                               bool flush);

// When the entry next needs the runner: the earliest pending next_attempt;
// `now` when a recipient is failed or owes a "relayed" DSN (a DSN is still
// to be sent).
TimePoint next_due(const QueueEntry& e, TimePoint now);

// The pending recipients a delay warning is due for (empty: none due);
// only those whose NOTIFY includes DELAY or who have none.
std::vector<std::size_t> delay_warning_due(const QueueEntry& e, TimePoint now,
                                           const QueuePolicy& policy);

}  // namespace tegami::server
