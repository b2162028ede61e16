#include "server/queue_schedule.hpp"

#include <algorithm>

#include "server/next_hop.hpp"

namespace tegami::server {

std::size_t DestinationWindow::limit() const {
  return proven_ ? std::clamp<std::size_t>(window_, 1, max_) : 1;
}

void DestinationWindow::reached(std::size_t transactions) {
  proven_ = true;
  failures_ = 0;
  window_ = std::min(max_, window_ + std::max<std::size_t>(transactions, 1));
}

bool DestinationWindow::unreachable(TimePoint now, std::chrono::seconds dead_for) {
  ++failures_;
  window_ = std::max<std::size_t>(1, window_ / 2);
  if (proven_ && failures_ < 2) return false;
  proven_ = false;
  failures_ = 0;
  window_ = 1;
  dead_until_ = now + dead_for;
  return true;
}

std::chrono::seconds retry_delay(const QueuePolicy& policy, unsigned attempts) {
  if (policy.retry.empty()) return std::chrono::seconds(300);
  std::size_t i = attempts == 0 ? 0 : attempts - 1;
  return policy.retry[std::min(i, policy.retry.size() - 1)];
}

RecipientStatus apply_outcome(QueueRecipient& r, const DeliveryOutcome& o, TimePoint now,
                              TimePoint created, const QueuePolicy& policy) {
  ++r.attempts;
  r.last_attempt = now;
  r.status_code = o.status;
  r.diagnostic = o.diagnostic;
  r.remote_mta = o.remote_mta;
  r.stage = o.stage;
  switch (o.result) {
    case smtp::RecipientResult::kDelivered:
      r.status = RecipientStatus::kDelivered;
      // RFC 3461 §5.2.2: NOTIFY=SUCCESS through a next hop without DSN gets
      // a "relayed" DSN from us; a next hop with DSN was given the NOTIFY
      // and answers for it (§5.2.1), so nothing is due here.
      r.relayed_dsn = r.notify.success() && !o.next_hop_dsn;
      break;
    case smtp::RecipientResult::kPermanent:
      r.status = RecipientStatus::kFailed;
      break;
    default:
      if (now - created >= policy.lifetime) {
        r.status = RecipientStatus::kFailed;
        r.status_code = "4.4.7";  // RFC 3463: delivery time expired
      } else {
        r.status = RecipientStatus::kPending;
        r.next_attempt = now + retry_delay(policy, r.attempts);
      }
      break;
  }
  return r.status;
}

std::map<std::string, std::vector<std::size_t>> due_recipients(const QueueEntry& e, TimePoint now,
                                                               bool flush) {
  std::map<std::string, std::vector<std::size_t>> out;
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    const auto& r = e.recipients[i];
    if (r.status != RecipientStatus::kPending) continue;
    if (!flush && r.next_attempt > now) continue;
    out[domain_of(r.address)].push_back(i);
  }
  return out;
}

TimePoint next_due(const QueueEntry& e, TimePoint now) {
  TimePoint due = TimePoint::max();
  for (const auto& r : e.recipients) {
    if (r.status == RecipientStatus::kFailed || r.relayed_dsn) return now;
    if (r.status == RecipientStatus::kPending) due = std::min(due, r.next_attempt);
  }
  return due == TimePoint::max() ? now : due;
}

std::vector<std::size_t> delay_warning_due(const QueueEntry& e, TimePoint now,
                                           const QueuePolicy& policy) {
  std::vector<std::size_t> out;
  if (policy.delay_warning.count() <= 0 || e.delay_warned || e.null_sender()) return out;
  if (now - e.created < policy.delay_warning) return out;
  for (std::size_t i = 0; i < e.recipients.size(); ++i)
    if (e.recipients[i].status == RecipientStatus::kPending && e.recipients[i].notify.delay())
      out.push_back(i);
  return out;
}

}  // namespace tegami::server
