#include "server/bouncer.hpp"

#include <time.h>

#include "core/log.hpp"
#include "server/outbound_message.hpp"  // kOutboundPiece
#include "server/server_context.hpp"

namespace tegami::server {

namespace {

// How often a boundary that occurs in a returned message is changed before
// the report falls back to the header section (it never happens by chance).
constexpr int kBoundaryTries = 8;

const char* what_of(mail::DsnAction action) {
  switch (action) {
    case mail::DsnAction::kFailed:
      return "bounce";
    case mail::DsnAction::kDelayed:
      return "delay warning";
    case mail::DsnAction::kDelivered:
    case mail::DsnAction::kRelayed:
      return "success notice";
  }
  return "DSN";
}

// CRLF -> LF for a Maildir copy written in pieces; a CR at the end of a
// piece waits for the next one.
class LfWriter {
 public:
  std::string convert(std::string_view crlf) {
    std::string out;
    out.reserve(crlf.size() + 1);
    std::size_t i = 0;
    if (cr_held_ && !crlf.empty()) {
      if (crlf[0] != '\n') out += '\r';
      cr_held_ = false;
    }
    for (; i < crlf.size(); ++i) {
      char c = crlf[i];
      if (c == '\r') {
        if (i + 1 == crlf.size()) {
          cr_held_ = true;
          break;
        }
        if (crlf[i + 1] == '\n') continue;
      }
      out += c;
    }
    return out;
  }
  std::string finish() { return cr_held_ ? std::string("\r") : std::string(); }

 private:
  bool cr_held_ = false;
};

// Whether `needle` occurs in the queued message (read in pieces).
Result<bool> occurs_in(const QueuedMessage& file, const std::string& needle) {
  std::string window;
  std::string piece(kOutboundPiece, '\0');
  std::uint64_t offset = 0;
  for (;;) {
    auto got = file.read(offset, piece.data(), piece.size());
    if (!got) return fail(got.error());
    if (*got == 0) return false;
    offset += *got;
    window.append(piece.data(), *got);
    if (window.find(needle) != std::string::npos) return true;
    if (window.size() >= needle.size()) window.erase(0, window.size() - (needle.size() - 1));
  }
}

}  // namespace

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

bool Bouncer::wanted(const QueueRecipient& r, mail::DsnAction action) {
  switch (action) {
    case mail::DsnAction::kFailed:
      return r.notify.failure();
    case mail::DsnAction::kDelayed:
      return r.notify.delay();
    case mail::DsnAction::kDelivered:
    case mail::DsnAction::kRelayed:
      return r.notify.success();
  }
  return false;
}

mail::DsnReport Bouncer::report(const QueueEntry& entry, const std::vector<std::size_t>& which,
                                mail::DsnAction action, const std::string& original_header,
                                const std::string& dsn_id) const {
  mail::DsnReport r;
  r.reporting_mta = options_.hostname;
  r.queue_id = entry.id;
  r.dsn_id = dsn_id;
  r.sender = entry.sender;
  r.envid = entry.envid;
  r.arrival = entry.created;
  r.now = clock_.now();
  r.offset_minutes = local_offset_minutes(r.now);
  r.message_id = "<" + dsn_id + ".dsn@" + options_.hostname + ">";
  r.boundary = (dsn_id + "/" + options_.hostname).substr(0, 50);  // room for "=_N" (RFC 2046: 70)
  for (auto i : which) {
    const auto& q = entry.recipients[i];
    mail::DsnRecipient rc;
    rc.final_recipient = q.address;
    rc.original_type = q.orcpt.type;
    rc.original_address = q.orcpt.address;
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
  return r;
}

std::string Bouncer::build(const QueueEntry& entry, const std::vector<std::size_t>& which,
                           mail::DsnAction action, const std::string& original_header,
                           const std::string& dsn_id) const {
  return mail::build_dsn(report(entry, which, action, original_header, dsn_id));
}

Result<std::optional<Bouncer::Postmaster>> Bouncer::find_postmaster() {
  // RFC 5321 §4.5.1: postmaster@ a domain of ours; the host name when it is
  // one, else the first local domain.
  std::string domain = options_.hostname;
  auto own = directory_.is_local_domain(domain);
  if (!own) return fail(own.error());
  if (!*own) {
    auto domains = directory_.list_domains();
    if (!domains) return fail(domains.error());
    if (!domains->empty()) domain = domains->front();
  }
  const std::string address = "postmaster@" + domain;
  auto r = directory_.resolve(address);
  if (!r) return fail(r.error());
  if (r->kind == Resolution::Kind::Local) return Postmaster{address, *r};
  if (!options_.postmaster.empty()) {
    auto c = directory_.resolve(options_.postmaster);
    if (!c) return fail(c.error());
    if (c->kind != Resolution::Kind::Unknown) return Postmaster{options_.postmaster, *c};
    spdlog::warn("postmaster = \"{}\" is no local account or alias", log_safe(options_.postmaster));
  }
  return std::optional<Postmaster>();
}

Result<void> Bouncer::emit(mail::DsnReport& report, const QueuedMessage* full,
                           std::uint64_t full_size,
                           const std::function<Result<void>(std::string_view)>& out) {
  if (full != nullptr && report.return_full) {
    // The boundary must not occur in what is returned (RFC 2046 §5.1.1).
    for (int tries = 0;; ++tries) {
      auto found = occurs_in(*full, "--" + report.boundary);
      if (!found) return fail(found.error());
      if (!*found) break;
      if (tries == kBoundaryTries) {
        report.return_full = false;
        break;
      }
      report.boundary += "=_" + std::to_string(tries);
    }
  }
  if (full == nullptr) report.return_full = false;
  mail::DsnFrame frame = mail::build_dsn_frame(report);
  if (auto r = out(frame.head); !r) return r;
  // build_dsn_frame() returns the message only in a report of a failure.
  if (frame.full) {
    std::string piece(kOutboundPiece, '\0');
    std::uint64_t offset = 0;
    char last = '\n';
    while (offset < full_size) {
      auto got = full->read(offset, piece.data(), piece.size());
      if (!got) return fail(got.error());
      if (*got == 0) break;
      offset += *got;
      last = piece[*got - 1];
      if (auto r = out(std::string_view(piece.data(), *got)); !r) return r;
    }
    if (last != '\n') {
      if (auto r = out("\r\n"); !r) return r;
    }
  } else {
    std::string_view header = mail::header_section(report.original);
    if (auto r = out(header); !r) return r;
    if (!header.empty() && header.back() != '\n') {
      if (auto r = out("\r\n"); !r) return r;
    }
  }
  return out(frame.tail);
}

// GCC's -Wmismatched-new-delete misfires on coroutine frames (GCC PR 109224
// family), as in delivery_agent.cpp; silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
net::awaitable<Result<std::string>> Bouncer::send(const QueueEntry& entry,
                                                  const std::vector<std::size_t>& which,
                                                  mail::DsnAction action,
                                                  const std::string& original_header,
                                                  const QueuedMessage* message) {
  const char* what = what_of(action);
  // RFC 3461 §4.1: only the recipients whose NOTIFY asks for this kind.
  std::vector<std::size_t> kept;
  for (auto i : which) {
    if (wanted(entry.recipients[i], action)) {
      kept.push_back(i);
    } else if (action != mail::DsnAction::kDelivered && action != mail::DsnAction::kRelayed) {
      spdlog::info("queue {}: no {} for <{}>: NOTIFY={}", entry.id, what,
                   log_safe(entry.recipients[i].address),
                   mail::notify_text(entry.recipients[i].notify));
    }
  }
  if (kept.empty()) co_return std::string();

  mail::PostmasterNotice notice = mail::PostmasterNotice::kNone;
  if (entry.null_sender()) {
    if (action != mail::DsnAction::kFailed) {
      spdlog::info("queue {}: no {} for a message from <>", entry.id, what);
      co_return std::string();
    }
    if (entry.double_bounce) {
      // The end of the line: a notice to the postmaster that failed too.
      for (auto i : kept)
        spdlog::warn(
            "queue {}: double bounce to <{}> undeliverable ({} {}): dropped, never reported "
            "again",
            entry.id, log_safe(entry.recipients[i].address), entry.recipients[i].status_code,
            log_safe(entry.recipients[i].diagnostic, 400));
      co_return std::string();
    }
    // RFC 5321 §6.1 / RFC 3464 §2: never a DSN about a DSN to <>; the
    // postmaster gets a double bounce instead.
    spdlog::info(
        "queue {}: no bounce for a message from <> (never a bounce of a bounce); a double bounce "
        "goes to the postmaster",
        entry.id);
    notice = mail::PostmasterNotice::kDoubleBounce;
  }

  std::string to = entry.sender;
  Resolution where;
  if (notice == mail::PostmasterNotice::kNone) {
    auto r = co_await workers_.run([this, &to] { return directory_.resolve(to); });
    if (!r) co_return fail(r.error());
    where = std::move(*r);
    if (where.kind == Resolution::Kind::Unknown) {
      if (action != mail::DsnAction::kFailed) {
        spdlog::warn("queue {}: {} dropped: the sender {} is unknown here", entry.id, what,
                     log_safe(to));
        co_return std::string();
      }
      spdlog::warn("queue {}: the sender {} is unknown here: its bounce goes to the postmaster",
                   entry.id, log_safe(to));
      notice = mail::PostmasterNotice::kUnknownSender;
    }
  }
  if (notice != mail::PostmasterNotice::kNone) {
    auto pm = co_await workers_.run([this] { return find_postmaster(); });
    if (!pm) co_return fail(pm.error());
    if (!*pm) {
      spdlog::error(
          "queue {}: {} for {} recipient(s) dropped: no postmaster to send it to (no account or "
          "alias postmaster@ a local domain, no `postmaster` in the configuration)",
          entry.id, what, kept.size());
      co_return std::string();
    }
    to = (*pm)->address;
    where = (*pm)->where;
  }

  const std::string dsn_id = ids_.next();
  mail::DsnReport rep = report(entry, kept, action, original_header, dsn_id);
  rep.sender = to;
  rep.notice = notice;
  rep.original_sender = entry.sender;
  // RFC 3461 §4.3: RET=FULL returns the whole message in a failure report;
  // a double bounce always returns the whole bounce (it is small, and the
  // postmaster needs it). Too big: the header section.
  const bool full_wanted =
      action == mail::DsnAction::kFailed &&
      (entry.ret == mail::DsnRet::kFull || notice == mail::PostmasterNotice::kDoubleBounce);
  rep.return_full = message != nullptr && full_wanted && entry.size <= options_.max_return;
  rep.full_eight_bit = entry.eight_bit;
  if (message != nullptr && full_wanted && !rep.return_full)
    spdlog::info("queue {}: message of {} octets too big to return whole: header section only",
                 entry.id, entry.size);
  const std::uint64_t full_size = entry.size;
  const char* kind = notice == mail::PostmasterNotice::kNone ? "" : "postmaster copy of the ";

  if (where.kind == Resolution::Kind::Local) {
    const auto& boxes = where.mailboxes;
    auto r = co_await workers_.run([this, &boxes, &rep, message, full_size]() -> Result<void> {
      auto d = mailboxes_.begin_delivery(boxes);
      if (!d) return fail(d.error());
      if (auto a = (*d)->append("Return-Path: <>\n"); !a) return a;
      LfWriter lf;
      auto e = emit(rep, message, full_size,
                    [&d, &lf](std::string_view piece) { return (*d)->append(lf.convert(piece)); });
      if (!e) return e;
      if (auto rest = lf.finish(); !rest.empty()) {
        if (auto a = (*d)->append(rest); !a) return a;
      }
      return (*d)->commit();
    });
    if (!r) co_return fail(r.error());
    spdlog::info("queue {}: {}{} for {} recipient(s) delivered to local {} (dsn {})", entry.id,
                 kind, what, kept.size(), log_safe(to), dsn_id);
    co_return std::string();
  }
  if (where.kind != Resolution::Kind::NotLocal) {
    spdlog::warn("queue {}: {} dropped: {} is unknown here", entry.id, what, log_safe(to));
    co_return std::string();
  }
  const bool marker = notice != mail::PostmasterNotice::kNone;
  auto r = co_await workers_.run([this, &rep, &dsn_id, &to, message, full_size,
                                  marker]() -> Result<void> {
    auto w = queue_.begin(dsn_id);
    if (!w) return fail(w.error());
    auto e =
        emit(rep, message, full_size, [&w](std::string_view piece) { return (*w)->append(piece); });
    if (!e) return e;
    QueueEntry dsn;
    dsn.id = dsn_id;
    dsn.sender = "";  // the null reverse-path: a DSN is never bounced
    dsn.created = clock_.now();
    dsn.size = (*w)->size();
    dsn.eight_bit = (*w)->eight_bit();
    dsn.double_bounce = marker;  // a notice that fails is dropped, not reported again
    QueueRecipient rcpt;
    rcpt.address = to;
    rcpt.next_attempt = dsn.created;
    dsn.recipients.push_back(rcpt);
    return queue_.commit(dsn, **w);
  });
  if (!r) co_return fail(r.error());
  spdlog::info("queue {}: {}{} for {} recipient(s) queued to {} as {}", entry.id, kind, what,
               kept.size(), log_safe(to), dsn_id);
  co_return dsn_id;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace tegami::server
