// QueueStore: the outbound queue (DESIGN §1 "QueueStore.enqueue"): messages
// accepted for other domains wait here until every recipient is delivered or
// bounced.
//
// An entry is one message, stored once, and one envelope: the sender, when
// it arrived, and per recipient its state (pending, delivered, failed,
// bounced), attempts, next attempt and last diagnostic.
//
// Invariants and failure behaviour:
//  - enqueue() returns success only when the message and its envelope are on
//    disk and fsynced, directory entries included ("250 only after fsync");
//    on failure nothing of the entry is visible to list()/load() and a
//    temporary Error (451 4.3.0) is returned;
//  - update() replaces the envelope atomically (write, fsync, rename, fsync
//    the directory): after a crash the old or the new envelope is there,
//    never a mix; it returns false (and writes nothing) when the entry was
//    removed meanwhile (e.g. `tegami queue delete`), so a delivery in flight
//    never resurrects a deleted entry;
//  - remove() makes the entry invisible first (the envelope goes first), so
//    a crash in the middle leaves at most an orphan message file, which the
//    implementation's start-up recovery discards;
//  - ids are what the caller gives (server/QueueIdGenerator: 16 upper-case
//    hex digits); any other id is refused with a permanent Error, so an id
//    from the command line can never name a path outside the queue;
//  - every call may run on any thread; calls for different ids never
//    conflict, and one id is updated by one caller at a time (the runner).
//
// Recipient states (RFC 3464 §2.3.3 "Action" in parentheses):
//   pending   — to be tried at next_attempt;
//   delivered — a 2xx after the final dot (delivered/relayed); with
//               relayed_dsn set, a "relayed" DSN is still to be sent
//               (RFC 3461 §5.2.2: NOTIFY=SUCCESS, a next hop without DSN);
//   failed    — permanent failure or expired; the DSN is still to be sent (failed);
//   bounced   — failed and the DSN is durable (or none was due: null sender,
//               a NOTIFY without FAILURE, a double bounce dropped).
//
// DSN parameters (RFC 3461) travel with the entry: RET and ENVID for the
// message, NOTIFY and ORCPT per recipient (decoded; mail/dsn_params.hpp);
// the delivery agent passes them on to a next hop that offers DSN.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "mail/dsn_params.hpp"

namespace tegami {

enum class RecipientStatus { kPending, kDelivered, kFailed, kBounced };

std::string_view to_string(RecipientStatus s);

struct QueueRecipient {
  using TimePoint = std::chrono::system_clock::time_point;
  std::string address;  // forward-path without angle brackets (mail::Address::to_string())
  RecipientStatus status = RecipientStatus::kPending;
  unsigned attempts = 0;     // attempts that ended in a temporary failure or a result
  TimePoint next_attempt{};  // pending: not before this instant
  TimePoint last_attempt{};  // epoch when never tried
  std::string status_code;   // RFC 3463 of the last outcome ("5.1.1"), "" when none
  std::string diagnostic;    // RFC 3464 Diagnostic-Code: "smtp; 550 5.1.1 ..." or "X-Tegami; ..."
  // The host that answered last: its DNS name (the MX or route host), or an
  // address literal "[192.0.2.1]" for a route given as an IP; "" when none.
  std::string remote_mta;
  std::string stage;         // the command an "smtp;" diagnostic answered ("RCPT TO"), "" when none
  mail::DsnNotify notify;    // RCPT ... NOTIFY= (RFC 3461 §4.1); bits 0: not given
  mail::DsnOrcpt orcpt;      // RCPT ... ORCPT= (RFC 3461 §4.2); type "": not given
  bool relayed_dsn = false;  // delivered: a "relayed" DSN is still to be sent
};

struct QueueEntry {
  using TimePoint = std::chrono::system_clock::time_point;
  std::string id;
  std::string sender;  // reverse-path without angle brackets; "" is the null path <>
  TimePoint created{};
  std::uint64_t size = 0;     // octets of the stored message (CRLF line endings)
  bool eight_bit = false;     // the message has octets above 127 (RFC 6152)
  bool delay_warned = false;  // a "delayed" DSN was sent
  // The message came with MAIL ... SMTPUTF8 (RFC 6531): relay it with
  // SMTPUTF8, or downgrade it only when nothing in it needs UTF-8.
  bool smtputf8 = false;
  mail::DsnRet ret = mail::DsnRet::kUnspecified;  // MAIL ... RET= (RFC 3461 §4.3)
  std::string envid;                              // MAIL ... ENVID=, decoded; "" when none
  // This message is a DSN to the postmaster about a bounce that could not
  // be delivered (a "double bounce"), or about a message whose local sender
  // does not exist: when it fails too it is dropped and logged, never
  // reported again (no third level, no loop).
  bool double_bounce = false;
  std::vector<QueueRecipient> recipients;

  bool null_sender() const { return sender.empty(); }
  // Pending or failed recipients remain, or a "relayed" DSN is still to be
  // sent: the entry is not finished.
  bool unfinished() const;
};

// A queued message written as a stream (issue 13): append() the message
// (CRLF line endings, not dot-stuffed) in pieces, then QueueStore::commit()
// makes it and its envelope durable. Destroyed without a commit, it leaves
// nothing behind.
class QueueMessageWriter {
 public:
  virtual ~QueueMessageWriter() = default;
  virtual Result<void> append(std::string_view crlf_data) = 0;
  virtual std::uint64_t size() const = 0;
  virtual bool eight_bit() const = 0;  // an octet above 127 was appended
};

// A queued message opened for reading (issue 13: it is sent and quoted
// from its file, never read whole). Owns the descriptor; read() is pread(2),
// so several deliveries of one message may read it at once from any thread.
// The data stays readable after the entry is removed.
class QueuedMessage {
 public:
  explicit QueuedMessage(int fd) : fd_(fd) {}
  ~QueuedMessage();
  QueuedMessage(const QueuedMessage&) = delete;
  QueuedMessage& operator=(const QueuedMessage&) = delete;
  // Up to `n` octets at `offset` into `buf`; 0 at the end of the file.
  Result<std::size_t> read(std::uint64_t offset, char* buf, std::size_t n) const;

 private:
  int fd_;
};

class QueueStore {
 public:
  virtual ~QueueStore() = default;

  // Stores `message` (CRLF line endings, not dot-stuffed) and `entry`
  // durably. entry.size is set by the caller.
  virtual Result<void> enqueue(const QueueEntry& entry, std::string_view message) = 0;
  // The streaming form of enqueue(): begin(), append, then commit() with the
  // envelope (entry.id must be the id given to begin()).
  virtual Result<std::unique_ptr<QueueMessageWriter>> begin(const std::string& id) = 0;
  virtual Result<void> commit(const QueueEntry& entry, QueueMessageWriter& message) = 0;
  // Ids of every visible entry, oldest first (ids sort by time).
  virtual Result<std::vector<std::string>> list() = 0;
  // The envelope; Error with enhanced "ENOENT" when the entry does not exist.
  virtual Result<QueueEntry> load(const std::string& id) = 0;
  // The message whole in memory: for tools and tests only (`tegami queue
  // show`); the server streams it with open_message().
  // Error with enhanced "ENOENT" when the entry does not exist.
  virtual Result<std::string> read_message(const std::string& id) = 0;
  // The message for reading; Error with enhanced "ENOENT" when the entry
  // does not exist.
  virtual Result<std::unique_ptr<QueuedMessage>> open_message(const std::string& id) = 0;
  // Replaces the envelope; false when the entry no longer exists.
  virtual Result<bool> update(const QueueEntry& entry) = 0;
  // Removes envelope and message; false when the entry did not exist.
  virtual Result<bool> remove(const std::string& id) = 0;
};

// True for the ids a QueueStore accepts: 1 to 32 characters of [0-9A-Za-z].
bool valid_queue_id(std::string_view id);

}  // namespace tegami
