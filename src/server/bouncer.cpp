#include "server/bouncer.hpp"

#include <time.h>

#include "core/log.hpp"
#include "proto/smtp/data_encoder.hpp"
#include "server/server_context.hpp"

namespace tegami::server {

int local_offset_minutes(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  return static_cast<int>(tm.tm_gmtoff / 60);
}

Bouncer::Bouncer(Options options, Directory& directory, MailboxStore& mailboxes, QueueStore& queue,
                 net::WorkerPool& workers, const Clock& clock, QueueIdGenerator& ids)
    : options_(std::move(options)),
      directory_(directory),
      mailboxes_(mailboxes),
      queue_(queue),
      workers_(workers),
      clock_(clock),
      ids_(ids) {}

std::string Bouncer::build(const QueueEntry& entry, const std::vector<std::size_t>& which,
                           mail::DsnAction action, const std::string& original_header,
                           const std::string& dsn_id) const {
  mail::DsnReport r;
  r.reporting_mta = options_.hostname;
  r.queue_id = entry.id;
  r.dsn_id = dsn_id;
  r.sender = entry.sender;
  r.arrival = entry.created;
  r.now = clock_.now();
  r.offset_minutes = local_offset_minutes(r.now);
  r.message_id = "<" + dsn_id + ".dsn@" + options_.hostname + ">";
  r.boundary = dsn_id + "/" + options_.hostname;
  for (auto i : which) {
    const auto& q = entry.recipients[i];
    mail::DsnRecipient rc;
    rc.final_recipient = q.address;
    rc.action = action;
    rc.status = q.status_code;
    rc.remote_mta = q.remote_mta;
    rc.diagnostic = q.diagnostic;
    rc.stage = q.stage;
    rc.last_attempt = q.last_attempt;
    if (action == mail::DsnAction::kDelayed)
      rc.will_retry_until = entry.created + options_.lifetime;
    r.recipients.push_back(std::move(rc));
  }
  r.original = original_header;
  return mail::build_dsn(r);
}

net::awaitable<Result<std::string>> Bouncer::send(const QueueEntry& entry,
                                                  const std::vector<std::size_t>& which,
                                                  mail::DsnAction action,
                                                  const std::string& original_header) {
  const char* what = action == mail::DsnAction::kFailed ? "bounce" : "delay warning";
  if (entry.null_sender()) {
    // RFC 5321 §6.1 / RFC 3464 §2: never a DSN about a DSN.
    spdlog::info("queue {}: no {} for a message from <> (never a bounce of a bounce)", entry.id,
                 what);
    co_return std::string();
  }
  if (which.empty()) co_return std::string();
  const std::string dsn_id = ids_.next();
  const std::string text = build(entry, which, action, original_header, dsn_id);
  const std::string& sender = entry.sender;
  auto where = co_await workers_.run([this, &sender] { return directory_.resolve(sender); });
  if (!where) co_return fail(where.error());
  switch (where->kind) {
    case Resolution::Kind::Local: {
      const std::string local = "Return-Path: <>\r\n" + text;
      const auto& boxes = where->mailboxes;
      auto r = co_await workers_.run(
          [this, &boxes, &local] { return mailboxes_.deliver(boxes, local); });
      if (!r) co_return fail(r.error());
      spdlog::info("queue {}: {} for {} recipient(s) delivered to local sender {} (dsn {})",
                   entry.id, what, which.size(), log_safe(sender), dsn_id);
      co_return std::string();
    }
    case Resolution::Kind::Unknown:
      spdlog::warn("queue {}: {} dropped: the sender {} is unknown here", entry.id, what,
                   log_safe(sender));
      co_return std::string();
    case Resolution::Kind::NotLocal:
      break;
  }
  QueueEntry dsn;
  dsn.id = dsn_id;
  dsn.sender = "";  // the null reverse-path: a DSN is never bounced
  dsn.created = clock_.now();
  dsn.size = text.size();
  dsn.eight_bit = smtp::has_eight_bit(text);
  QueueRecipient rcpt;
  rcpt.address = sender;
  rcpt.next_attempt = dsn.created;
  dsn.recipients.push_back(rcpt);
  auto r = co_await workers_.run([this, &dsn, &text] { return queue_.enqueue(dsn, text); });
  if (!r) co_return fail(r.error());
  spdlog::info("queue {}: {} for {} recipient(s) queued to {} as {}", entry.id, what, which.size(),
               log_safe(sender), dsn_id);
  co_return dsn_id;
}

}  // namespace tegami::server
