// Small POSIX helpers for the Maildir store: each returns a temporary Error
// (451 4.3.0) carrying the path and strerror, because a failing disk or a
// permission problem is an operator problem, never the sender's.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tegami::maildir {

Error fs_error(std::string_view what, const std::string& path, int err);

// Creates `path` (mode 0700) if missing; an existing entry is accepted as is
// (if it is not a directory, later operations fail). When it is created,
// the parent directory is fsynced so the new entry is durable.
Result<void> make_dir(const std::string& path);
// make_dir for `stop`, every missing directory from `stop` down to `root`, and
// root/tmp, root/new, root/cur. `root` must be below `stop`.
Result<void> ensure_maildir(const std::string& stop, const std::string& root);

// Makes the entries created or removed in directory `path` before the call
// durable. Group commit (issue 16): callers that arrive while an fsync of
// the same directory runs wait for the next one, which covers all of them,
// so N concurrent deliveries into one directory cost about two directory
// fsyncs instead of N. Never returns before an fsync that started after the
// call began has finished (its error, if any, is each caller's error).
Result<void> fsync_dir(const std::string& path);

// The group commit behind fsync_dir, over any sync function (unit-tested
// with a fake). One object per directory; thread-safe.
class GroupSync {
 public:
  using SyncFn = Result<void> (*)(const std::string& path);
  explicit GroupSync(SyncFn fn) : fn_(fn) {}
  // Returns once a sync that started after this call began has finished.
  Result<void> sync(const std::string& path);
  std::uint64_t syncs() const;  // how many syncs ran (for tests)

 private:
  SyncFn fn_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t requested_ = 0;  // tickets given
  std::uint64_t covered_ = 0;    // tickets up to this one are durable
  bool running_ = false;
  std::uint64_t syncs_ = 0;
  struct Failure {
    std::uint64_t from, to;  // the tickets a failed sync covered
    Error error;
  };
  static constexpr std::size_t kFailuresKept = 64;
  std::vector<Failure> failures_;
};

// Creates `path` with O_EXCL (mode 0600), writes `data`, fsyncs, closes.
// EEXIST is reported with Error::enhanced == "EEXIST" so callers can retry
// under another name. On failure the file is removed.
Result<void> write_file_synced(const std::string& path, std::string_view data);

// A file written as a stream (issue 13: a message is never whole in memory):
// created with O_EXCL (mode 0600), appended through a bounded buffer, then
// finish() writes the rest, fsyncs and closes. Until finish() succeeds the
// file is removed by discard() or the destructor. Errors are temporary and
// name the path; create() reports EEXIST with Error::enhanced == "EEXIST".
class SyncedWriter {
 public:
  static constexpr std::size_t kBuffer = 64 * 1024;
  static Result<SyncedWriter> create(const std::string& path);
  // An unnamed file in directory `dir` (O_TMPFILE, issue 16): no directory
  // entry is created or removed for it, so concurrent deliveries do not
  // contend for `dir`'s lock; finish() keeps it open for link_to(). Error
  // with enhanced "EOPNOTSUPP" when the file system cannot (use create()).
  static Result<SyncedWriter> create_anonymous(const std::string& dir);
  bool anonymous() const { return anonymous_; }
  // After finish() of an anonymous file: gives it the name `dst` (linkat).
  // Errors carry enhanced "EEXIST" or "EXDEV" for those errno values.
  Result<void> link_to(const std::string& dst);
  int fd() const { return fd_; }
  SyncedWriter(SyncedWriter&& o) noexcept;
  SyncedWriter& operator=(SyncedWriter&& o) noexcept;
  SyncedWriter(const SyncedWriter&) = delete;
  SyncedWriter& operator=(const SyncedWriter&) = delete;
  ~SyncedWriter() { discard(); }

  Result<void> append(std::string_view data);
  Result<void> finish();  // flush, fsync, close; the file stays
  void discard();         // close and unlink (only the unlink is skipped after finish())
  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }

 private:
  SyncedWriter(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  Result<void> flush();
  Result<void> write_all(std::string_view data);
  std::string path_;
  int fd_ = -1;
  std::string buf_;
  std::uint64_t size_ = 0;
  bool committed_ = false;  // finish() succeeded (or moved from): never unlink
  bool anonymous_ = false;  // O_TMPFILE: path_ is its directory, nothing to unlink
};

// Whole file; temporary Error (ENOENT with enhanced "ENOENT").
Result<std::string> read_file(const std::string& path);

}  // namespace tegami::maildir
