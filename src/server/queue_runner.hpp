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
// The queue manager (issue 15, after Postfix's qmgr): what a message needs is
// split per destination (a domain, or one route's next hop); each
// destination has its own queue of requests, served by connections that
// carry several messages each (RSET between, at most Limits::reuse), up to
// its concurrency window (DestinationWindow: one probe connection while not
// proven, growing on success, collapsing on failure) and
// Limits::connections in total; destinations get their connections in
// turn (round-robin), so a tarpit holds at most its own window, never
// everyone's mail. A destination that no host answers for is marked dead:
// the requests waiting for it, and every new one until its dead time is
// over, are deferred with its last failure, without a connection each.
//
// Memory: the schedule holds one small slot per spool entry; at most
// Limits::active_messages envelopes and message files are open at a time.
// A message whose destinations already have enough requests waiting is not
// kept in memory: it is "parked" (its slot remembers the destinations) and
// taken again when they have room, so a backlog of 100,000 for one domain
// costs neither memory nor other domains' turns.
//
// The deferred queue is found again by scanning the spool every
// Limits::scan_interval: an entry whose envelope failed to load, whose
// removal failed, or that was never submitted is picked up then; a
// cancel() that failed (intake: local delivery failed after queueing) is
// retried at each scan, and that entry is never delivered.
//
// Stopping: stop() starts nothing new; connections finish the message they
// carry and end; requests still waiting are not counted as attempts; each
// message in flight records its outcomes before the attempt ends, so
// busy() turns false once everything is recorded (serve waits for that, up
// to [limits] shutdown_grace).
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
#include <deque>
#include <map>
#include <set>
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

class DkimSigning;

class QueueRunner {
 public:
  struct Limits {
    std::size_t connections = 100;            // [queue] max_connections: in flight, in total
    std::size_t per_destination = 20;         // [queue] destination_concurrency
    std::size_t active_messages = 200;        // [queue] active_messages: envelopes in memory
    std::size_t reuse = 20;                   // [queue] connection_reuse: messages per connection
    std::chrono::seconds scan_interval{300};  // [queue] scan_interval
  };

  QueueRunner(asio::any_io_executor strand, QueueStore& store, DeliveryAgent& agent,
              Bouncer& bouncer, net::WorkerPool& workers, const Clock& clock, QueuePolicy policy,
              std::map<std::string, std::string> routes, Limits limits);

  // DKIM signing of what leaves (issue 17); null: nothing is signed. Set
  // before start().
  void set_dkim(DkimSigning* signing) { dkim_ = signing; }
  // Loads what the queue holds and starts working it.
  void start();
  // A new durable entry: try it now.
  void submit(const std::string& id);
  // An entry to remove (intake: a cancel that failed); never delivered.
  void cancel_later(const std::string& id);
  // Try every entry and every pending recipient now (`tegami queue flush`).
  void flush();
  // Starts no new attempts or connections (graceful shutdown).
  void stop();
  // Attempts still running (thread-safe): outcomes not yet recorded.
  bool busy() const { return running_.load() > 0; }

  // For tests and logs (read on the strand only).
  std::size_t scheduled() const { return schedule_.size(); }

 private:
  struct Slot {
    TimePoint due{};
    bool active = false;
    bool flush = false;               // try every pending recipient at the next attempt
    std::set<std::string> parked_on;  // parked: the destinations it waits for room at
  };
  struct Attempt;
  // One message's recipients for one destination, waiting or being served.
  struct Job {
    std::string key;
    DeliveryRequest request;
    std::vector<DeliveryOutcome> outcomes;
    bool settled = false;
    bool tried = true;  // false: never offered to a server (stopping)
    Attempt* owner = nullptr;
  };
  struct Attempt {
    std::size_t remaining = 0;
    asio::steady_timer done;
    explicit Attempt(asio::any_io_executor ex) : done(std::move(ex)) {}
  };
  struct Destination {
    explicit Destination(std::size_t max) : window(max) {}
    DestinationWindow window;
    std::deque<Job*> waiting;
    std::size_t active = 0;        // connections
    DeliveryOutcome dead_outcome;  // what requests get while it is dead
  };
  class Source;

  net::awaitable<void> run();
  net::awaitable<void> scan();
  net::awaitable<void> attempt(std::string id);
  net::awaitable<void> connection(std::string key);
  // Sends the bounce and the delay warning due for `entry`, updating it.
  // Returns false when a DSN could not be sent (retry later).
  // DSNs quote the header section, read from `message` only when one is due.
  net::awaitable<bool> notify(QueueEntry& entry, const QueuedMessage& message);
  void settle(Job& job, std::vector<DeliveryOutcome> outcomes);
  // Requests a destination may hold waiting before more are parked.
  std::size_t backlog(const Destination& d) const;
  bool saturated(const std::string& key) const;
  // Starts connections while limits allow, destinations in turn.
  void pump();
  // Defers every request waiting for `key` with `outcome`.
  void defer_waiting(Destination& d, const DeliveryOutcome& outcome);
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
  std::set<std::string> cancels_;  // entries to remove, never to deliver
  std::size_t active_ = 0;         // attempts (messages in memory)
  std::atomic<std::size_t> running_{0};
  DkimSigning* dkim_ = nullptr;
  bool stopping_ = false;
  asio::steady_timer wake_;
  std::chrono::steady_clock::time_point next_scan_;
  std::size_t connections_ = 0;
  std::map<std::string, Destination> dests_;
  std::string turn_;  // round-robin: the destination served last
  std::atomic<std::uint64_t> next_session_{1};
};

}  // namespace tegami::server
