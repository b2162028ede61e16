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
      wake_(strand_, kForever) {}

void QueueRunner::start() {
  asio::co_spawn(strand_, run(), [](std::exception_ptr e) { log_exception("runner", e); });
}

void QueueRunner::submit(const std::string& id) {
  asio::post(strand_, [this, id] { schedule(id, clock_.now()); });
}

void QueueRunner::flush() {
  asio::post(strand_, [this] {
    auto now = clock_.now();
    for (auto& [id, slot] : schedule_) {
      slot.flush = true;
      slot.due = now;
    }
    spdlog::info("queue: flush: {} message(s) to try now", schedule_.size());
    wake();
  });
}

void QueueRunner::stop() {
  asio::post(strand_, [this] {
    stopping_ = true;
    wake();
  });
}

void QueueRunner::wake() {
  wake_.cancel();
}

void QueueRunner::schedule(const std::string& id, TimePoint due) {
  auto& slot = schedule_[id];
  slot.due = due;
  wake();
}

net::awaitable<void> QueueRunner::run() {
  auto ids = co_await workers_.run([this] { return store_.list(); });
  if (!ids) {
    spdlog::error("queue: cannot list the queue: {}", ids.error().message);
  } else {
    for (const auto& id : *ids) {
      auto e = co_await workers_.run([this, &id] { return store_.load(id); });
      if (!e) {
        spdlog::error("queue {}: cannot read: {}", id, e.error().message);
        continue;
      }
      schedule_[id].due = next_due(*e, clock_.now());
    }
    spdlog::info("queue: {} message(s) waiting", ids->size());
  }
  while (!stopping_) {
    auto now = clock_.now();
    TimePoint earliest = TimePoint::max();
    std::vector<std::pair<TimePoint, std::string>> due;
    for (const auto& [id, slot] : schedule_) {
      if (slot.active) continue;
      if (slot.due <= now) {
        due.emplace_back(slot.due, id);
      } else {
        earliest = std::min(earliest, slot.due);
      }
    }
    std::sort(due.begin(), due.end());
    for (const auto& [when, id] : due) {
      if (active_ >= limits_.active_messages) break;  // woken again when one finishes
      schedule_[id].active = true;
      ++active_;
      asio::co_spawn(strand_, attempt(id),
                     [](std::exception_ptr e) { log_exception("attempt", e); });
    }
    if (earliest == TimePoint::max()) {
      wake_.expires_after(kMaxSleep);
    } else {
      auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(earliest - now);
      wake_.expires_after(std::clamp<std::chrono::steady_clock::duration>(
          wait, std::chrono::milliseconds(1), kMaxSleep));
    }
    co_await wake_.async_wait(net::kNoThrow);
  }
  spdlog::info("queue: runner stopped; {} attempt(s) still running", active_);
}

net::awaitable<void> QueueRunner::acquire(const std::string& key) {
  for (;;) {
    auto it = per_destination_.find(key);
    std::size_t mine = it == per_destination_.end() ? 0 : it->second;
    if (connections_ < limits_.connections && mine < limits_.per_destination) break;
    asio::steady_timer t(strand_, kForever);
    waiters_.push_back(&t);
    co_await t.async_wait(net::kNoThrow);
  }
  ++connections_;
  ++per_destination_[key];
}

void QueueRunner::release(const std::string& key) {
  --connections_;
  if (--per_destination_[key] == 0) per_destination_.erase(key);
  auto waiting = std::move(waiters_);
  waiters_.clear();
  for (auto* t : waiting) t->cancel();  // each re-checks the limits
}

net::awaitable<void> QueueRunner::attempt(std::string id) {
  bool flush = false;
  if (auto it = schedule_.find(id); it != schedule_.end()) {
    flush = it->second.flush;
    it->second.flush = false;
  }
  // Ends the attempt: forgets the entry, or schedules its next attempt.
  auto finish = [this, &id](std::optional<TimePoint> due) {
    --active_;
    auto it = schedule_.find(id);
    if (it != schedule_.end()) {
      if (!due) {
        schedule_.erase(it);
      } else {
        it->second.active = false;
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
  // Issue 13: the message is sent from its file; only its shape is read now.
  auto opened = co_await workers_.run([this, &id]() -> Result<OutboundMessage> {
    auto f = store_.open_message(id);
    if (!f) return fail(f.error());
    return scan_outbound(std::shared_ptr<const QueuedMessage>(std::move(*f)));
  });
  if (!opened) {
    spdlog::error("queue {}: cannot read the message: {}", id, opened.error().message);
    finish(opened.error().enhanced == "ENOENT" ? std::optional<TimePoint>() : retry_later());
    co_return;
  }
  const OutboundMessage& message = *opened;

  // 1. Deliver: one job per domain with recipients due, all at once.
  struct Job {
    std::string key;
    DeliveryRequest request;
    std::vector<DeliveryOutcome> outcomes;
  };
  std::vector<Job> jobs;
  for (auto& [domain, which] : due_recipients(entry, clock_.now(), flush)) {
    Job job;
    job.key = destination_key(routes_, domain);
    job.request.entry = &entry;
    job.request.recipients = which;
    job.request.domain = domain;
    job.request.message = &message;
    job.request.session_id = fmt::format("{}/D{}", id, next_session_.fetch_add(1));
    jobs.push_back(std::move(job));
  }
  if (!jobs.empty()) {
    std::size_t remaining = jobs.size();
    asio::steady_timer all_done(strand_, kForever);
    for (auto& job : jobs) {
      asio::co_spawn(
          strand_,
          [this, &job]() -> net::awaitable<void> {
            co_await acquire(job.key);
            struct Release {
              QueueRunner* self;
              const std::string& key;
              ~Release() { self->release(key); }
            } guard{this, job.key};
            job.outcomes = co_await agent_.deliver(job.request);
          },
          [&remaining, &all_done](std::exception_ptr e) {
            log_exception("delivery", e);
            if (--remaining == 0) all_done.cancel();
          });
    }
    while (remaining > 0) co_await all_done.async_wait(net::kNoThrow);
  }

  // 2. Record the outcomes.
  auto now = clock_.now();
  for (auto& job : jobs) {
    for (std::size_t k = 0; k < job.request.recipients.size(); ++k) {
      auto& r = entry.recipients[job.request.recipients[k]];
      DeliveryOutcome o = k < job.outcomes.size() ? job.outcomes[k] : DeliveryOutcome{};
      if (k >= job.outcomes.size()) {
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
  if (!jobs.empty() || !entry.unfinished()) {
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
