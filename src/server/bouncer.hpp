// Bouncer: sends the DSNs of the queue (mail/dsn.hpp) to a message's
// envelope sender — a bounce when recipients failed, a delay warning when
// they are still pending after [queue] delay_warning, a success notice when
// the sender asked for one (RFC 3461 NOTIFY=SUCCESS: "relayed" from the
// queue, "delivered" for a local mailbox at intake) — and the postmaster's
// copies.
//
// Where the DSN goes: the sender is looked up in the directory like any
// recipient; a local address gets the DSN in its Maildir (with
// "Return-Path: <>"), a remote one gets it through the queue (reverse-path
// <>).
//
// What is sent (RFC 3461): only for the recipients whose NOTIFY asks for it
// (failure and delay: NOTIFY absent or naming them; success: NOTIFY naming
// SUCCESS; NEVER: nothing), with the message's ENVID and each recipient's
// ORCPT. A failure report returns the whole message for RET=FULL when it is
// at most Options::max_return octets (read from the queued file in pieces,
// never whole in memory), else the header section; every other report
// returns the header section (RFC 3461 §4.3).
//
// The postmaster (RFC 5321 §4.5.1; Postfix's 2bounce_notice_recipient):
//  - a bounce (a message from <>) that fails, or expires, is never returned
//    to <>; a "double bounce" with the whole bounce goes to the postmaster,
//    from <> and marked QueueEntry::double_bounce when it is queued;
//  - a failed message whose sender is an unknown address of a local domain
//    gets its report sent to the postmaster the same way (logged);
//  - a double bounce that fails in turn is dropped and logged: never a third
//    level, never a loop;
//  - the postmaster is postmaster@D, D being the host name when it is a
//    local domain, else the first local domain: an account or alias of that
//    name wins, else the configured `postmaster` address; with neither, the
//    notice is dropped and logged as an error.
//
// Invariants (RFC 5321 §6.1, RFC 3464 §2): nothing is ever sent to the
// null path <>, and no delay warning or success notice is sent for a
// message from <>; every DSN is sent with the null reverse-path. send()
// succeeds only once the DSN is durable (Maildir or spool), or when none
// was due, so the caller may then mark the recipients bounced.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
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
    std::string postmaster;                    // the configured `postmaster`; "" when none
    // RET=FULL returns the whole message up to this size ([limits]
    // message_size); a bigger one is returned as its header section.
    std::uint64_t max_return = 25ull << 20;
  };

  Bouncer(Options options, Directory& directory, MailboxStore& mailboxes, QueueStore& queue,
          net::WorkerPool& workers, const Clock& clock, QueueIdGenerator& ids);

  // Sends one DSN about `which` (indices into entry.recipients) to
  // entry.sender, or to the postmaster (see above). Returns the id of the
  // queued DSN when it went to the queue (the caller schedules it), "" when
  // it was delivered locally or none was due (dropped, logged).
  // `original_header` is the message's header section; `message`, when not
  // null, is the queued message, read for RET=FULL and double bounces.
  net::awaitable<Result<std::string>> send(const QueueEntry& entry,
                                           const std::vector<std::size_t>& which,
                                           mail::DsnAction action,
                                           const std::string& original_header,
                                           const QueuedMessage* message = nullptr);

  // The DSN text with the header section (exposed for tests).
  std::string build(const QueueEntry& entry, const std::vector<std::size_t>& which,
                    mail::DsnAction action, const std::string& original_header,
                    const std::string& dsn_id) const;

  // Whether `r`'s NOTIFY asks for a DSN of this kind (RFC 3461 §4.1).
  static bool wanted(const QueueRecipient& r, mail::DsnAction action);

 private:
  struct Postmaster {
    std::string address;
    Resolution where;
  };
  mail::DsnReport report(const QueueEntry& entry, const std::vector<std::size_t>& which,
                         mail::DsnAction action, const std::string& original_header,
                         const std::string& dsn_id) const;
  // Blocking: where postmaster notices go; nullopt when nowhere.
  Result<std::optional<Postmaster>> find_postmaster();
  // Blocking: writes the DSN (head, content, tail) into `out` piece by piece.
  // `full`: the queued message to return whole, else the header section.
  Result<void> emit(mail::DsnReport& report, const QueuedMessage* full, std::uint64_t full_size,
                    const std::function<Result<void>(std::string_view)>& out);

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
