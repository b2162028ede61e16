// MaildirStore: MailboxStore (store/mailbox_store.hpp) on Maildirs under
// data_dir/mail/DOMAIN/LOCAL/{tmp,new,cur}, created on demand, lower case.
//
// Delivery (DESIGN rule 5, "250 only after fsync"): the message, converted
// to LF line endings, is written once into the FIRST mailbox's tmp/ and
// fsynced; then it is hard-linked into each mailbox's new/ under a fresh
// unique name (a copy is written instead if link() fails with EXDEV), each
// new/ is fsynced, and the tmp/ file is unlinked. On any failure, links
// already made are removed and a temporary Error (451 4.3.0) is returned:
// a message is in all mailboxes or in none. Hard links make fan-out cost one
// write and one fsync of the data, however many recipients.
//
// Names: maildir_names.hpp. ,S= is the size on disk and ,W= the size with
// CRLF (what POP3 LIST reports), so listing never opens a message.
//
// Maildrop locking (RFC 1939 §8): DIR/.tegami.lock is locked with an open
// file description lock (fcntl F_OFD_SETLK). Unlike classic POSIX record
// locks, OFD locks conflict between two opens in the SAME process too, so two
// POP3 sessions of one server exclude each other, as do two servers. The
// lock is released when the Maildrop is destroyed (or the process dies).
// Delivery does not take the lock: Maildir needs none, and a session only
// sees what was in new/ and cur/ when it started.
//
// Thread safety: deliver() and open_maildrop() may be called concurrently; a
// Maildrop is used by one session (thread) at a time.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "store/mailbox_store.hpp"

namespace tegami {

class MaildirStore final : public MailboxStore {
 public:
  // Maildir convention: tmp/ files older than 36 hours are abandoned deliveries.
  static constexpr std::chrono::seconds kStaleTmpAge{36 * 3600};
  // The enhanced code of the Error returned when the maildrop is locked.
  static constexpr const char* kInUse = "IN-USE";

  // `mail_dir` is data_dir/mail; `hostname` goes into file names (empty:
  // gethostname()).
  explicit MaildirStore(std::string mail_dir, std::string hostname = {});

  Result<void> deliver(const std::vector<MailboxRef>& boxes, std::string_view message) override;
  Result<std::unique_ptr<MailboxDelivery>> begin_delivery(
      const std::vector<MailboxRef>& boxes) override;
  Result<std::unique_ptr<Maildrop>> open_maildrop(const MailboxRef& box) override;

  // Removes regular files in every mailbox's tmp/ not modified for `max_age`,
  // and this host's streaming files whose process is gone (a crash or kill -9
  // during DATA) (call at start-up). Returns how many were removed.
  Result<std::size_t> cleanup_tmp(std::chrono::seconds max_age = kStaleTmpAge);

  // mail_dir/DOMAIN/LOCAL, lower case. Permanent Error for a component that
  // is empty, ".", "..", or contains '/' or NUL (never leave mail_dir).
  Result<std::string> mailbox_path(const MailboxRef& box) const;

  const std::string& mail_dir() const { return mail_dir_; }

 private:
  friend class MaildirDelivery;
  // tmp/ names of messages being streamed: "incoming.HOST.PID.N".
  std::string incoming_prefix() const;
  std::string incoming_name();
  bool abandoned_incoming(const std::string& name) const;
  // A name unique to this delivery: time, pid, per-store counter, host, sizes.
  std::string unique_name(std::uint64_t disk_size, std::uint64_t wire_size);
  // Copies the fsynced file `src` into dir/tmp and links it to
  // dir/new/<fresh name> (the EXDEV path), streaming.
  Result<std::string> deliver_copy(const std::string& dir, const std::string& src,
                                   std::uint64_t disk_size, std::uint64_t wire_size,
                                   int src_fd = -1);

  // ensure_maildir(), skipped for a mailbox already made or seen whole by
  // this store (six mkdir calls per delivery otherwise; issue 16). A failed
  // delivery forgets its mailboxes, so one removed meanwhile is made again
  // on the next attempt.
  Result<void> ensure_known(const std::string& dir);
  void forget(const std::vector<std::string>& dirs);

  std::string mail_dir_;
  std::string host_;
  pid_t pid_;
  std::atomic<std::uint64_t> counter_{0};
  std::mutex known_mu_;
  std::unordered_set<std::string> known_;  // bounded: cleared at kMaxKnown
  static constexpr std::size_t kMaxKnown = 100000;
};

}  // namespace tegami
