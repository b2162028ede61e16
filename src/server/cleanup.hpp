// Cleanup: the one place an accepted message is turned into its stored
// copies (issue 13; Postfix's cleanup(8) is the model).
//
// The SMTP receiver hands the message over as it arrives (unstuffed, CRLF
// line endings) in pieces of any size. Cleanup keeps only the header block
// in memory (at most kMaxHeaderBlock octets; a longer header is treated as
// ending there), and once it is complete writes, to each copy that this
// message has:
//   - the local copy (MailboxDelivery, LF line endings): Return-Path:, our
//     Received:, the fields submission adds, the header block, the body;
//   - the queued copy (QueueMessageWriter, CRLF): the same without
//     Return-Path: (RFC 5321 §4.4: only the final delivery adds it).
// Nothing is ever added to a copy only to be stripped again. The body then
// streams straight through; memory stays bounded whatever the size.
//
// After the end of data the driver asks what the header says (the From:
// policy, the hop count for loop detection) and then commits: the local
// copy (fsync, links, directory fsyncs) and the queue entry (fsync, rename,
// envelope). Until both are committed nothing is visible; dropping a
// Cleanup discards every file it wrote.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "mail/header.hpp"
#include "store/mailbox_store.hpp"
#include "store/queue_store.hpp"

namespace tegami::server {

// A header block longer than this ends here (Postfix's header_size_limit
// is 100 KiB per field; this bounds the whole block held in memory).
inline constexpr std::size_t kMaxHeaderBlock = 1024 * 1024;

struct CleanupSettings {
  std::string return_path;  // "<alice@example.test>" or "<>"; local copies only
  std::string received;     // our Received: field value (without "Received: ")
  // Submission (RFC 6409 §8): add Date: and Message-ID: when missing.
  bool add_missing_fields = false;
  std::string message_id;  // the msg-id to add, "<...>"
  std::string date;        // the date-time to add
  // Keep the stored header section (our fields and the message's) for a
  // DSN about this message (RFC 3461 NOTIFY=SUCCESS on a local recipient).
  bool keep_header = false;
  // Authentication-Results (RFC 8601): our field's value ("" adds none),
  // our authserv-id, and whether the message's own fields claiming that id
  // are removed (§5: they would be forgeries).
  std::string auth_results;
  std::string received_spf;  // Received-SPF: value (RFC 7208 §9.1); "" adds none
  std::string authserv_id;
  bool strip_own_auth_results = false;
};

class Cleanup {
 public:
  // Either copy may be null (no local or no remote recipients).
  Cleanup(CleanupSettings settings, std::unique_ptr<MailboxDelivery> local,
          std::unique_ptr<QueueMessageWriter> remote);

  // One piece of the message as received (CRLF line endings). Write errors
  // are remembered (the rest is discarded) and reported by end().
  void write(std::string_view crlf);
  // The message will be refused (over the size limit): every file goes now.
  void abandon();
  // The end of data: the header block is complete. Error: a write failed.
  Result<void> end();

  // After end(): the message's own header fields (without ours).
  const mail::MessageHeader& header() const { return header_; }
  // After end(): the header block reached kMaxHeaderBlock without its blank
  // line, so header() may not hold every field (the From: check refuses).
  bool header_truncated() const { return header_truncated_; }
  // "Received:" fields in the message's own header (loop detection).
  std::size_t received_count() const;
  // Fields added by add_missing_fields ("Date", "Message-ID"), for the log.
  const std::string& added() const { return added_; }
  // After end(), with keep_header: the header section as stored in the
  // queued copy (our Received:, the added fields, the message's header
  // block; CRLF). Empty otherwise.
  const std::string& stored_header() const { return stored_header_; }
  // Authentication-Results fields claiming our authserv-id that were
  // removed from the message's header (RFC 8601 §5), for the log.
  std::size_t stripped_auth_results() const { return stripped_; }

  // Durable local copy (fsync, links, directory fsyncs).
  Result<void> commit_local();
  // Durable queue entry; entry.size and entry.eight_bit are filled in here.
  Result<void> commit_remote(QueueStore& queue, QueueEntry& entry);

  std::uint64_t size() const { return size_; }  // octets received (CRLF)
  bool has_local() const { return local_ != nullptr; }
  bool has_remote() const { return remote_ != nullptr; }

 private:
  void flush_header();
  void put(std::string_view crlf);  // to every copy (LF for the local one)
  void fail_with(const Error& e);

  CleanupSettings settings_;
  std::unique_ptr<MailboxDelivery> local_;
  std::unique_ptr<QueueMessageWriter> remote_;
  std::string header_block_;  // until the blank line (or the limit)
  bool header_done_ = false;
  bool header_truncated_ = false;
  mail::MessageHeader header_;
  std::string added_;
  std::size_t stripped_ = 0;
  std::string stored_header_;  // keep_header: see stored_header()
  std::string lf_;             // scratch for the LF conversion
  bool cr_held_ = false;       // the local copy's pending CR (CRLF split across pieces)
  std::uint64_t size_ = 0;
  std::optional<Error> error_;
};

}  // namespace tegami::server
