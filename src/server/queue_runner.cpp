#include "server/queue_runner.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/log.hpp"
#include "server/cleanup.hpp"  // kMaxHeaderBlock
#include "server/next_hop.hpp"

namespace tegami::server {

namespace {

constexpr auto kMaxSleep = std::chrono::seconds(60);  // re-check now and then (clock changes)
constexpr auto kForever = std::chrono::steady_clock::time_point::max();
// Requests waiting per open connection before another one is opened.
constexpr std::size_t kWaitingPerConnection = 4;

const char* word_for(RecipientStatus s) {
  switch (s) {
    case RecipientStatus::kDelivered:
      return "sent";
    case RecipientStatus::kFailed:
      return "bounced";
    case RecipientStatus::kPending:
      return "deferred";
    case RecipientStatus::kBounced:
      return "bounced";
  }
  return "?";
}

void log_exception(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("queue: {} ended by exception: {}", what, ex.what());
  }
}

}  // namespace

// A connection's view of its destination's queue.
class QueueRunner::Source : public RequestSource {
 public:
  Source(QueueRunner& runner, std::string key) : runner_(runner), key_(std::move(key)) {}
  const DeliveryRequest* next() override {
    if (runner_.stopping_) return nullptr;
    auto it = runner_.dests_.find(key_);
    if (it == runner_.dests_.end() || it->second.waiting.empty()) return nullptr;
    if (it->second.window.dead(runner_.clock_.now())) return nullptr;
    Job* job = it->second.waiting.front();
    it->second.waiting.pop_front();
    taken_[&job->request] = job;
    return &job->request;
  }
  void done(const DeliveryRequest& request, std::vector<DeliveryOutcome> outcomes,
            bool answered) override {
    auto it = taken_.find(&request);
    if (it == taken_.end()) return;
    Job* job = it->second;
    taken_.erase(it);
    runner_.settle(*job, std::move(outcomes));
    if (answered) {
      // Slow start: each message a server answered widens the window at once.
      if (auto d = runner_.dests_.find(key_); d != runner_.dests_.end())
        d->second.window.reached(1);
      runner_.pump();
    }
  }

 private:
  QueueRunner& runner_;
  std::string key_;
  std::map<const DeliveryRequest*, Job*> taken_;
};

QueueRunner::QueueRunner(asio::any_io_executor strand, QueueStore& store, DeliveryAgent& agent,
                         Bouncer& bouncer, net::WorkerPool& workers, const Clock& clock,
                         QueuePolicy policy, std::map<std::string, std::string> routes,
                         Limits limits)
    : strand_(std::move(strand)),
      store_(store),
      agent_(agent),
      bouncer_(bouncer),
      workers_(workers),
      clock_(clock),
      policy_(std::move(policy)),
      routes_(std::move(routes)),
      limits_(limits),
      wake_(strand_, kForever) {
  limits_.connections = std::max<std::size_t>(limits_.connections, 1);
  limits_.active_messages = std::max<std::size_t>(limits_.active_messages, 1);
  limits_.reuse = std::max<std::size_t>(limits_.reuse, 1);
  if (limits_.scan_interval.count() <= 0) limits_.scan_interval = std::chrono::seconds(300);
}

void QueueRunner::start() {
  asio::co_spawn(strand_, run(), [](std::exception_ptr e) { log_exception("runner", e); });
}

void QueueRunner::submit(const std::string& id) {
  asio::post(strand_, [this, id] { schedule(id, clock_.now()); });
}

void QueueRunner::cancel_later(const std::string& id) {
  asio::post(strand_, [this, id] {
    cancels_.insert(id);
    schedule_.erase(id);
    next_scan_ = std::chrono::steady_clock::now();  // retry soon
    wake();
  });
}

void QueueRunner::flush() {
  asio::post(strand_, [this] {
    auto now = clock_.now();
    for (auto& [id, slot] : schedule_) {
      slot.flush = true;
      slot.due = now;
      slot.parked_on.clear();
    }
    // Flushing also forgives dead destinations: the operator says "now".
    for (auto& [key, d] : dests_) d.window = DestinationWindow(limits_.per_destination);
    spdlog::info("queue: flush: {} message(s) to try now", schedule_.size());
    next_scan_ = std::chrono::steady_clock::now();
    wake();
  });
}

void QueueRunner::stop() {
  asio::post(strand_, [this] {
    stopping_ = true;
    // Requests not yet given to a connection end their attempt untried.
    for (auto& [key, d] : dests_) {
      auto waiting = std::move(d.waiting);
      d.waiting.clear();
      for (Job* job : waiting) {
        job->tried = false;
        settle(*job, {});
      }
    }
    wake();
  });
}

void QueueRunner::wake() {
  wake_.cancel();
}

void QueueRunner::schedule(const std::string& id, TimePoint due) {
  if (cancels_.count(id) != 0) return;
  auto& slot = schedule_[id];
  slot.due = due;
  slot.parked_on.clear();
  wake();
}

std::size_t QueueRunner::backlog(const Destination& d) const {
  std::size_t cap = std::max<std::size_t>(1, limits_.active_messages / 2);
  return std::clamp<std::size_t>(d.window.limit() * limits_.reuse, 2,
                                 std::max<std::size_t>(cap, 2));
}

bool QueueRunner::saturated(const std::string& key) const {
  auto it = dests_.find(key);
  if (it == dests_.end()) return false;
  const Destination& d = it->second;
  if (d.window.dead(clock_.now())) return false;  // deferred at once: no room needed
  return d.waiting.size() >= backlog(d);
}

net::awaitable<void> QueueRunner::scan() {
  auto ids = co_await workers_.run([this] { return store_.list(); });
  if (!ids) {
    spdlog::error("queue: cannot list the queue: {}", ids.error().message);
    co_return;
  }
  std::size_t found = 0;
  std::set<std::string> present(ids->begin(), ids->end());
  for (auto it = cancels_.begin(); it != cancels_.end();) {
    const std::string id = *it;
    if (present.count(id) == 0) {
      it = cancels_.erase(it);
      continue;
    }
    auto rm = co_await workers_.run([this, &id] { return store_.remove(id); });
    if (rm) {
      spdlog::info("queue {}: removed (cancelled at intake)", id);
      it = cancels_.erase(it);
    } else {
      spdlog::error("queue {}: cannot remove a cancelled entry (retried at the next scan): {}", id,
                    rm.error().message);
      ++it;
    }
  }
  for (const auto& id : *ids) {
    if (stopping_) co_return;
    if (schedule_.count(id) != 0 || cancels_.count(id) != 0) continue;
    auto e = co_await workers_.run([this, &id] { return store_.load(id); });
    if (!e) {
      if (e.error().enhanced != "ENOENT")
        spdlog::error("queue {}: cannot read (retried at the next scan): {}", id,
                      e.error().message);
      continue;
    }
    if (schedule_.count(id) != 0) continue;  // submitted meanwhile
    schedule_[id].due = next_due(*e, clock_.now());
    ++found;
  }
  if (found > 0) spdlog::info("queue: scan: {} message(s) found in the spool", found);
}

net::awaitable<void> QueueRunner::run() {
  co_await scan();
  spdlog::info("queue: {} message(s) waiting", schedule_.size());
  next_scan_ = std::chrono::steady_clock::now() + limits_.scan_interval;
  while (!stopping_) {
    if (std::chrono::steady_clock::now() >= next_scan_) {
      co_await scan();
      next_scan_ = std::chrono::steady_clock::now() + limits_.scan_interval;
      if (stopping_) break;
    }
    auto now = clock_.now();
    TimePoint earliest = TimePoint::max();
    std::vector<std::pair<TimePoint, std::string>> due;
    for (auto& [id, slot] : schedule_) {
      if (slot.active) continue;
      if (slot.due > now) {
        earliest = std::min(earliest, slot.due);
        continue;
      }
      if (!slot.parked_on.empty()) {
        bool room = false;
        for (const auto& key : slot.parked_on) room = room || !saturated(key);
        if (!room) continue;  // woken when a destination's queue gets shorter
      }
      due.emplace_back(slot.due, id);
    }
    std::sort(due.begin(), due.end());
    for (const auto& [when, id] : due) {
      if (active_ >= limits_.active_messages) break;  // woken again when one finishes
      auto& slot = schedule_[id];
      slot.active = true;
      slot.parked_on.clear();
      ++active_;
      ++running_;
      asio::co_spawn(strand_, attempt(id),
                     [](std::exception_ptr e) { log_exception("attempt", e); });
    }
    auto until_scan = next_scan_ - std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration wait = kMaxSleep;
    if (earliest != TimePoint::max())
      wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(earliest - now);
    wait = std::min(wait, until_scan);
    wake_.expires_after(std::clamp<std::chrono::steady_clock::duration>(
        wait, std::chrono::milliseconds(1), kMaxSleep));
    co_await wake_.async_wait(net::kNoThrow);
  }
  spdlog::info("queue: runner stopped; {} attempt(s) still running", active_);
}

void QueueRunner::settle(Job& job, std::vector<DeliveryOutcome> outcomes) {
  if (job.settled) return;
  job.settled = true;
  job.outcomes = std::move(outcomes);
  if (job.owner != nullptr && --job.owner->remaining == 0) job.owner->done.cancel();
}

void QueueRunner::defer_waiting(Destination& d, const DeliveryOutcome& outcome) {
  auto waiting = std::move(d.waiting);
  d.waiting.clear();
  for (Job* job : waiting)
    settle(*job, std::vector<DeliveryOutcome>(job->request.recipients.size(), outcome));
}

void QueueRunner::pump() {
  if (stopping_) return;
  auto now = clock_.now();
  while (connections_ < limits_.connections) {
    // The next destination after the one served last that has requests
    // waiting and room in its window (round-robin).
    // Another connection only while there is enough waiting to keep it
    // busy: a burst goes over a few reused connections, not one each.
    auto eligible = [&](const Destination& d) {
      return !d.waiting.empty() && d.active < d.window.limit() && !d.window.dead(now) &&
             (d.active == 0 || d.waiting.size() > d.active * kWaitingPerConnection);
    };
    auto it = dests_.upper_bound(turn_);
    auto found = dests_.end();
    for (auto i = it; i != dests_.end(); ++i)
      if (eligible(i->second)) {
        found = i;
        break;
      }
    if (found == dests_.end())
      for (auto i = dests_.begin(); i != it; ++i)
        if (eligible(i->second)) {
          found = i;
          break;
        }
    if (found == dests_.end()) return;
    turn_ = found->first;
    ++found->second.active;
    ++connections_;
    asio::co_spawn(strand_, connection(found->first),
                   [](std::exception_ptr e) { log_exception("connection", e); });
  }
}

net::awaitable<void> QueueRunner::connection(std::string key) {
  Source source(*this, key);
  ServeReport report;
  try {
    report = co_await agent_.serve(source, limits_.reuse);
  } catch (const std::exception& e) {
    spdlog::error("queue: connection to {} ended by exception: {}", key, e.what());
  }
  --connections_;
  auto it = dests_.find(key);
  if (it != dests_.end()) {
    Destination& d = it->second;
    --d.active;
    auto now = clock_.now();
    auto dead_for = retry_delay(policy_, 1);
    switch (report.kind) {
      case ServeReport::Kind::kIdle:
        break;
      case ServeReport::Kind::kReached:  // the window grew with each message (Source::done)
        break;
      case ServeReport::Kind::kUnreachable:
      case ServeReport::Kind::kNoRoute: {
        bool temporary = report.failure.result == smtp::RecipientResult::kTemporary;
        if (!temporary) {
          // The same permanent answer (NXDOMAIN, null MX, loop) for everyone waiting.
          defer_waiting(d, report.failure);
          break;
        }
        if (!d.window.unreachable(now, dead_for)) break;
        DeliveryOutcome o = report.failure;
        if (o.diagnostic.rfind("X-Tegami; ", 0) == 0)
          o.diagnostic = "X-Tegami; delivery temporarily suspended: " + o.diagnostic.substr(10);
        o.relay = "none";
        d.dead_outcome = o;
        spdlog::warn("queue: destination {} marked dead for {}s ({} request(s) deferred): {}", key,
                     dead_for.count(), d.waiting.size(), log_safe(report.failure.diagnostic, 300));
        defer_waiting(d, o);
        break;
      }
    }
    // Nothing to remember about a destination that is alive and idle
    // (bounded memory, whatever the number of domains seen).
    if (d.active == 0 && d.waiting.empty() && !d.window.dead(now)) dests_.erase(it);
  }
  pump();
  wake();  // parked messages may have room now
}

net::awaitable<void> QueueRunner::attempt(std::string id) {
  bool flush = false;
  if (auto it = schedule_.find(id); it != schedule_.end()) {
    flush = it->second.flush;
    it->second.flush = false;
  }
  // Ends the attempt: forgets the entry, or schedules its next attempt.
  // `parked`: the destinations it waits for room at (due stays as it was).
  auto finish = [this, &id](std::optional<TimePoint> due, std::set<std::string> parked = {}) {
    --active_;
    --running_;
    auto it = schedule_.find(id);
    if (it != schedule_.end()) {
      if (!due) {
        schedule_.erase(it);
      } else {
        it->second.active = false;
        it->second.parked_on = std::move(parked);
        it->second.due = it->second.flush ? clock_.now() : *due;  // flushed meanwhile
      }
    }
    wake();
  };
  auto retry_later = [this] { return clock_.now() + retry_delay(policy_, 1); };

  auto loaded = co_await workers_.run([this, &id] { return store_.load(id); });
  if (!loaded) {
    if (loaded.error().enhanced == "ENOENT") {
      spdlog::info("queue {}: gone from the spool (deleted by an operator?)", id);
      finish(std::nullopt);
    } else {
      spdlog::error("queue {}: cannot read the envelope: {}", id, loaded.error().message);
      finish(retry_later());
    }
    co_return;
  }
  QueueEntry entry = std::move(*loaded);
  auto groups = due_recipients(entry, clock_.now(), flush);
  // Parked: every destination it needs already has enough waiting.
  if (!groups.empty() && !stopping_) {
    std::set<std::string> keys;
    bool room = false;
    for (const auto& [domain, which] : groups) {
      auto key = destination_key(routes_, domain);
      room = room || !saturated(key);
      keys.insert(key);
    }
    if (!room) {
      auto slot = schedule_.find(id);
      TimePoint due = slot != schedule_.end() ? slot->second.due : clock_.now();
      if (flush && slot != schedule_.end()) slot->second.flush = true;
      finish(due, std::move(keys));
      co_return;
    }
  }
  if (stopping_) groups.clear();
  // Issue 13: the message is sent from its file; only its shape is read now.
  auto opened = co_await workers_.run([this, &id]() -> Result<OutboundMessage> {
    auto f = store_.open_message(id);
    if (!f) return fail(f.error());
    return scan_outbound(
        std::shared_ptr<const QueuedMessage>(std::move(*f)), dkim_,
        std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count());
  });
  if (!opened) {
    spdlog::error("queue {}: cannot read the message: {}", id, opened.error().message);
    finish(opened.error().enhanced == "ENOENT" ? std::optional<TimePoint>() : retry_later());
    co_return;
  }
  const OutboundMessage& message = *opened;

  // 1. Deliver: one request per domain with recipients due, each in its
  // destination's queue (or deferred at once when the destination is dead).
  std::vector<std::unique_ptr<Job>> jobs;
  Attempt att(strand_);
  att.done.expires_at(kForever);
  auto now = clock_.now();
  for (auto& [domain, which] : groups) {
    auto job = std::make_unique<Job>();
    job->key = destination_key(routes_, domain);
    job->request.entry = &entry;
    job->request.recipients = which;
    job->request.domain = domain;
    job->request.message = &message;
    job->request.session_id = fmt::format("{}/D{}", id, next_session_.fetch_add(1));
    job->owner = &att;
    jobs.push_back(std::move(job));
  }
  att.remaining = jobs.size();
  for (auto& job : jobs) {
    auto [it, fresh] = dests_.try_emplace(job->key, limits_.per_destination);
    Destination& d = it->second;
    if (d.window.dead(now)) {
      settle(*job, std::vector<DeliveryOutcome>(job->request.recipients.size(), d.dead_outcome));
      continue;
    }
    d.waiting.push_back(job.get());
  }
  pump();
  while (att.remaining > 0) co_await att.done.async_wait(net::kNoThrow);

  // 2. Record the outcomes.
  now = clock_.now();
  std::size_t tried = 0;
  for (auto& job : jobs) {
    if (!job->tried) continue;
    ++tried;
    for (std::size_t k = 0; k < job->request.recipients.size(); ++k) {
      auto& r = entry.recipients[job->request.recipients[k]];
      DeliveryOutcome o = k < job->outcomes.size() ? job->outcomes[k] : DeliveryOutcome{};
      if (k >= job->outcomes.size()) {
        o.status = "4.3.0";
        o.diagnostic = "X-Tegami; internal error: no outcome";
      }
      auto st = apply_outcome(r, o, now, entry.created, policy_);
      bool expired =
          st == RecipientStatus::kFailed && o.result == smtp::RecipientResult::kTemporary;
      spdlog::info("queue {}: to=<{}> relay={} delay={}s attempts={} status={}{} dsn={} ({})", id,
                   log_safe(r.address), o.relay.empty() ? "none" : o.relay,
                   std::chrono::duration_cast<std::chrono::seconds>(now - entry.created).count(),
                   r.attempts, expired ? "expired" : word_for(st),
                   st == RecipientStatus::kPending
                       ? fmt::format(" next_in={}s", retry_delay(policy_, r.attempts).count())
                       : "",
                   r.status_code, log_safe(r.diagnostic, 400));
    }
  }
  if (tried > 0 || !entry.unfinished()) {
    if (!entry.unfinished()) {
      auto rm = co_await workers_.run([this, &id] { return store_.remove(id); });
      if (!rm) spdlog::error("queue {}: cannot remove: {}", id, rm.error().message);
      spdlog::info("queue {}: removed (every recipient done)", id);
      finish(std::nullopt);
      co_return;
    }
    auto up = co_await workers_.run([this, &entry] { return store_.update(entry); });
    if (up && !*up) {
      spdlog::info("queue {}: deleted by an operator during delivery", id);
      finish(std::nullopt);
      co_return;
    }
    if (!up) spdlog::error("queue {}: cannot record the outcomes: {}", id, up.error().message);
  }
  if (stopping_) {
    finish(clock_.now());
    co_return;
  }

  // 3. Bounces and delay warnings.
  bool notified = co_await notify(entry, *message.file);
  if (!entry.unfinished()) {
    auto rm = co_await workers_.run([this, &id] { return store_.remove(id); });
    if (!rm) spdlog::error("queue {}: cannot remove: {}", id, rm.error().message);
    spdlog::info("queue {}: removed (every recipient done)", id);
    finish(std::nullopt);
    co_return;
  }
  now = clock_.now();
  TimePoint due = next_due(entry, now);
  if (!notified) due = std::max(due, retry_later());
  finish(due);
}

net::awaitable<bool> QueueRunner::notify(QueueEntry& entry, const QueuedMessage& file) {
  bool ok = true, changed = false;
  std::vector<std::size_t> failed, relayed;
  for (std::size_t i = 0; i < entry.recipients.size(); ++i) {
    const auto& r = entry.recipients[i];
    if (r.status == RecipientStatus::kFailed) failed.push_back(i);
    if (r.status == RecipientStatus::kDelivered && r.relayed_dsn) relayed.push_back(i);
  }
  auto warn = delay_warning_due(entry, clock_.now(), policy_);
  if (failed.empty() && warn.empty() && relayed.empty()) co_return true;
  auto header =
      co_await workers_.run([&file] { return read_header_section(file, kMaxHeaderBlock); });
  if (!header) {
    spdlog::error("queue {}: cannot read the header for a DSN: {}", entry.id,
                  header.error().message);
    co_return false;
  }
  const std::string& message = *header;
  if (!failed.empty()) {
    // The file too: RET=FULL and double bounces return the whole message.
    auto sent = co_await bouncer_.send(entry, failed, mail::DsnAction::kFailed, message, &file);
    if (sent) {
      for (auto i : failed) entry.recipients[i].status = RecipientStatus::kBounced;
      changed = true;
      if (!sent->empty()) schedule(*sent, clock_.now());
    } else {
      spdlog::error("queue {}: cannot send the bounce: {}", entry.id, sent.error().message);
      ok = false;
    }
  }
  if (!warn.empty()) {
    auto sent = co_await bouncer_.send(entry, warn, mail::DsnAction::kDelayed, message);
    if (sent) {
      entry.delay_warned = true;
      changed = true;
      if (!sent->empty()) schedule(*sent, clock_.now());
    } else {
      spdlog::error("queue {}: cannot send the delay warning: {}", entry.id, sent.error().message);
      ok = false;
    }
  }
  if (!relayed.empty()) {
    // RFC 3461 §5.2.2: NOTIFY=SUCCESS, and the next hop did not offer DSN.
    auto sent = co_await bouncer_.send(entry, relayed, mail::DsnAction::kRelayed, message);
    if (sent) {
      for (auto i : relayed) entry.recipients[i].relayed_dsn = false;
      changed = true;
      if (!sent->empty()) schedule(*sent, clock_.now());
    } else {
      spdlog::error("queue {}: cannot send the success notice: {}", entry.id, sent.error().message);
      ok = false;
    }
  }
  if (changed && entry.unfinished()) {
    auto up = co_await workers_.run([this, &entry] { return store_.update(entry); });
    if (!up) spdlog::error("queue {}: cannot record the DSN: {}", entry.id, up.error().message);
  }
  co_return ok;
}

}  // namespace tegami::server
