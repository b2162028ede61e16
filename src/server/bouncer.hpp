// Bouncer: sends the DSNs of the queue (mail/dsn.hpp) to a message's
// envelope sender — a bounce when recipients failed, a delay warning when
// they are still pending after [queue] delay_warning.
//
// Where the DSN goes: the sender is looked up in the directory like any
// recipient; a local address gets the DSN in its Maildir (with
// "Return-Path: <>"), a remote one gets it through the queue (reverse-path
// <>); an unknown local address gets nothing (logged).
//
// Invariants (RFC 5321 §6.1, RFC 3464 §2): a DSN is never sent for a
// message whose sender is the null path <> — no bounce of a bounce, so two
// servers cannot ping-pong bounces forever; the DSN itself is queued with
// the null reverse-path. send() succeeds only once the DSN is durable
// (Maildir or spool), so the caller may then mark the recipients bounced.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "mail/dsn.hpp"
#include "net/asio.hpp"
#include "net/worker_pool.hpp"
#include "store/directory.hpp"
#include "store/mailbox_store.hpp"
#include "store/queue_store.hpp"

namespace tegami::server {

class QueueIdGenerator;

class Bouncer {
 public:
  struct Options {
    std::string hostname;                      // Reporting-MTA, MAILER-DAEMON@hostname
    std::chrono::seconds lifetime{5 * 86400};  // for Will-Retry-Until
  };

  Bouncer(Options options, Directory& directory, MailboxStore& mailboxes, QueueStore& queue,
          net::WorkerPool& workers, const Clock& clock, QueueIdGenerator& ids);

  // Sends one DSN about `which` (indices into entry.recipients) to
  // entry.sender. Returns the id of the queued DSN when it went to the queue
  // (the caller schedules it), "" when it was delivered locally or dropped.
  // `original_header` is the queued message's header section
  // (read_header_section(): never the whole message, issue 13).
  net::awaitable<Result<std::string>> send(const QueueEntry& entry,
                                           const std::vector<std::size_t>& which,
                                           mail::DsnAction action,
                                           const std::string& original_header);

  // The DSN text (exposed for tests).
  std::string build(const QueueEntry& entry, const std::vector<std::size_t>& which,
                    mail::DsnAction action, const std::string& original_header,
                    const std::string& dsn_id) const;

 private:
  Options options_;
  Directory& directory_;
  MailboxStore& mailboxes_;
  QueueStore& queue_;
  net::WorkerPool& workers_;
  const Clock& clock_;
  QueueIdGenerator& ids_;
};

// Minutes east of UTC of the local zone at `t` (for Date: fields).
int local_offset_minutes(std::chrono::system_clock::time_point t);

}  // namespace tegami::server
