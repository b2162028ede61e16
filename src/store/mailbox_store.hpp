// MailboxStore: local delivery into, and POP3 access to, users' mailboxes.
//
// deliver(): the message is durably stored in every mailbox (file fsynced,
// directory fsynced) before it returns success; on any failure nothing is
// visible in any mailbox's new/ (files already linked are removed) and a
// temporary Error (451 4.3.0) is returned. Mailbox directories are created
// on demand.
//
// Maildrop: a snapshot of one mailbox (new/ and cur/) taken under an
// exclusive lock held until the Maildrop is destroyed (RFC 1939 §8: the
// maildrop is locked for the session). Sizes come from the file names
// (,W= is the size with CRLF line endings), so listing opens no message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "store/directory.hpp"

namespace tegami {

struct MaildropEntry {
  std::string uid;         // stable unique id: the Maildir base name up to ',' or ':'
  std::uint64_t size = 0;  // octets as RETR sends them (CRLF line endings, before dot-stuffing)
  std::string path;        // current full path
  bool in_new = false;     // still in new/
};

class Maildrop {
 public:
  virtual ~Maildrop() = default;  // releases the lock
  virtual const std::vector<MaildropEntry>& entries() const = 0;
  // The message with CRLF line endings (what RETR sends before dot-stuffing),
  // whole in memory: for tests and tools only; the server streams with
  // open_message() (issue 13).
  virtual Result<std::string> read(std::size_t index) = 0;
  // A read-only file descriptor of the message as stored (LF line endings in
  // our Maildirs, CRLF in some foreign ones); the caller closes it.
  virtual Result<int> open_message(std::size_t index) = 0;
  // The same, only when that needs no disk I/O (the path and inode are in
  // the kernel's caches): lets the event loop open a message without a trip
  // to the worker pool (issue 16). -1 when it would have to wait, or on any
  // failure (open_message() on a worker then reports it).
  virtual int open_message_cached(std::size_t /*index*/) { return -1; }
  // UPDATE state (RFC 1939 §6): removes `deleted`, moves `seen` new/ mail to cur/.
  // Both vectors have entries().size() elements.
  virtual Result<void> commit(const std::vector<bool>& deleted, const std::vector<bool>& seen) = 0;
};

// One delivery written as a stream (issue 13): append() the message as it
// will be stored (LF line endings, Return-Path: first), then commit(): the
// data is fsynced, then it appears in every mailbox's new/ and those
// directories are fsynced. Destroying it without a successful commit leaves
// nothing visible.
class MailboxDelivery {
 public:
  virtual ~MailboxDelivery() = default;
  virtual Result<void> append(std::string_view lf_data) = 0;
  virtual Result<void> commit() = 0;
};

class MailboxStore {
 public:
  virtual ~MailboxStore() = default;
  // The streaming form of deliver(); nothing is visible until commit().
  virtual Result<std::unique_ptr<MailboxDelivery>> begin_delivery(
      const std::vector<MailboxRef>& boxes) = 0;
  // `message` has CRLF line endings (as received over SMTP, already unstuffed).
  virtual Result<void> deliver(const std::vector<MailboxRef>& boxes, std::string_view message) = 0;
  // Error with enhanced == "IN-USE" when another session holds the lock.
  virtual Result<std::unique_ptr<Maildrop>> open_maildrop(const MailboxRef& box) = 0;
};

}  // namespace tegami
