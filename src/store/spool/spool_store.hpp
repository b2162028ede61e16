// SpoolStore: QueueStore (store/queue_store.hpp) on plain files under
// data_dir/queue/ (docs/queue-format.md):
//
//   tmp/      files being written; anything here at start-up is a crash's leftover
//   msg/ID    the message, CRLF line endings, exactly as it will be sent
//   env/ID    the envelope (store/spool/spool_format.hpp); its presence commits the entry
//   corrupt/  envelopes that could not be read, moved aside at start-up for the operator
//   lock      serialises update()/remove() between the server and `tegami queue delete`
//
// Durability (DESIGN rule 5, CHECKLIST "Storage"): enqueue writes the
// message to tmp/, fsyncs it, renames it into msg/ (never over an existing
// file) and fsyncs msg/; only then the envelope goes the same way into env/.
// So an envelope never exists without its whole message, whatever the crash.
// update() writes the new envelope to tmp/, fsyncs, and renames it over
// env/ID under the lock after checking env/ID still exists; remove() unlinks
// env/ID first, under the lock, then msg/ID.
//
// recover() (the server, once at start, before anything else uses the spool)
// removes tmp/ leftovers and message files without an envelope (an enqueue
// that never committed, so never acknowledged, or a remove cut short), and
// moves unreadable envelopes (and their messages) to corrupt/; each with a
// log line.
//
// Errors are temporary (451 4.3.0) and carry the path and strerror, except
// for an invalid id (permanent). Thread safety: all calls may run
// concurrently; the lock is an OFD lock (fcntl F_OFD_SETLKW), so it also
// excludes other threads of this process and other processes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "store/queue_store.hpp"

namespace tegami {

class SpoolStore final : public QueueStore {
 public:
  struct Recovery {
    std::size_t tmp_removed = 0;      // partial writes discarded
    std::size_t orphans_removed = 0;  // messages without an envelope discarded
    std::size_t corrupt = 0;          // envelopes moved to corrupt/
    std::size_t entries = 0;          // entries in the queue afterwards
  };

  // `queue_dir` is data_dir/queue. Nothing is touched until a call.
  explicit SpoolStore(std::string queue_dir);

  // Creates queue_dir and its subdirectories when missing (fsyncing parents).
  Result<void> create_dirs();
  // Start-up recovery (see above). Calls create_dirs() first.
  Result<Recovery> recover();

  Result<void> enqueue(const QueueEntry& entry, std::string_view message) override;
  Result<std::unique_ptr<QueueMessageWriter>> begin(const std::string& id) override;
  Result<void> commit(const QueueEntry& entry, QueueMessageWriter& message) override;
  Result<std::vector<std::string>> list() override;
  Result<QueueEntry> load(const std::string& id) override;
  Result<std::string> read_message(const std::string& id) override;
  Result<std::unique_ptr<QueuedMessage>> open_message(const std::string& id) override;
  Result<bool> update(const QueueEntry& entry) override;
  Result<bool> remove(const std::string& id) override;

  const std::string& dir() const { return dir_; }
  std::string env_path(const std::string& id) const { return dir_ + "/env/" + id; }
  std::string msg_path(const std::string& id) const { return dir_ + "/msg/" + id; }

 private:
  // A fresh name in tmp/ for `id`'s next file.
  std::string tmp_path(const std::string& id, const char* kind);

  std::string dir_;
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace tegami
