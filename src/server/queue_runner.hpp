// QueueRunner: works the outbound queue (DESIGN §1): decides when each
// message is tried, hands its recipients to the DeliveryAgent one domain at
// a time, records the outcomes durably, and has the Bouncer send DSNs.
//
// Scheduling (server/queue_schedule.hpp): a new message is tried at once;
// after a temporary failure a recipient waits per [queue] retry; at
// [queue] lifetime it fails; a permanent failure fails it at once. Failed
// recipients get one bounce per attempt (never for a message from <>), then
// are "bounced"; a delay warning goes out once after [queue] delay_warning.
// When no recipient is pending or failed the entry is removed.
//
// Limits: at most Limits::connections deliveries at a time in total and
// Limits::per_destination per destination (a domain, or one route's next
// hop), so one slow domain cannot take every connection and a big burst to
// one domain does not hammer it (Postfix's default is 20 per destination);
// at most Limits::active_messages messages in memory at a time.
//
// Crash safety: outcomes are written (QueueStore::update) before bounces are
// sent and again after; a crash in between sends a DSN twice at worst
// (duplicates are tolerable, losses are not). A delivery that succeeded but
// was not yet recorded is repeated after a restart (RFC 1047).
//
// Threads: everything runs on the strand given at construction (as do the
// DeliveryAgent and the DnsResolver); submit(), flush() and stop() may be
// called from any thread. Queue entries deleted behind the runner's back
// (`tegami queue delete`) are noticed at the next attempt and forgotten.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <list>
#include <map>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "net/asio.hpp"
#include "net/worker_pool.hpp"
#include "server/bouncer.hpp"
#include "server/delivery_agent.hpp"
#include "server/queue_schedule.hpp"
#include "store/queue_store.hpp"

namespace tegami::server {

class QueueRunner {
 public:
  struct Limits {
    std::size_t connections = 100;      // deliveries in flight, in total
    std::size_t per_destination = 20;   // deliveries in flight per destination
    std::size_t active_messages = 200;  // messages being attempted at a time
  };

  QueueRunner(asio::any_io_executor strand, QueueStore& store, DeliveryAgent& agent,
              Bouncer& bouncer, net::WorkerPool& workers, const Clock& clock, QueuePolicy policy,
              std::map<std::string, std::string> routes, Limits limits);

  // Loads what the queue holds and starts working it.
  void start();
  // A new durable entry: try it now.
  void submit(const std::string& id);
  // Try every entry and every pending recipient now (`tegami queue flush`).
  void flush();
  // Starts no new attempts; those in flight end with the io_context.
  void stop();

  // For tests and logs (read on the strand only).
  std::size_t scheduled() const { return schedule_.size(); }

 private:
  struct Slot {
    TimePoint due{};
    bool active = false;
    bool flush = false;  // try every pending recipient at the next attempt
  };

  net::awaitable<void> run();
  net::awaitable<void> attempt(std::string id);
  // Sends the bounce and the delay warning due for `entry`, updating it.
  // Returns false when a DSN could not be sent (retry later).
  // DSNs quote the header section, read from `message` only when one is due.
  net::awaitable<bool> notify(QueueEntry& entry, const QueuedMessage& message);
  net::awaitable<void> acquire(const std::string& key);
  void release(const std::string& key);
  void wake();
  void schedule(const std::string& id, TimePoint due);

  asio::any_io_executor strand_;
  QueueStore& store_;
  DeliveryAgent& agent_;
  Bouncer& bouncer_;
  net::WorkerPool& workers_;
  const Clock& clock_;
  QueuePolicy policy_;
  std::map<std::string, std::string> routes_;
  Limits limits_;

  std::map<std::string, Slot> schedule_;
  std::size_t active_ = 0;
  bool stopping_ = false;
  asio::steady_timer wake_;
  std::size_t connections_ = 0;
  std::map<std::string, std::size_t> per_destination_;
  std::list<asio::steady_timer*> waiters_;  // acquire() calls waiting for a free slot
  std::atomic<std::uint64_t> next_session_{1};
};

}  // namespace tegami::server
