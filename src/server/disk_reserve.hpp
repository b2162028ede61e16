// DiskReserve: free disk space kept in reserve ([limits] disk_reserve,
// issue 15; the idea of Postfix's queue_minfree). While the file system of
// data_dir (or of its mail/ or queue/, which an operator may mount apart)
// has less free space than the reserve, MAIL is answered
//   452 4.3.1 Insufficient system storage
// (RFC 5321 §4.2.2: 452 "insufficient system storage"; RFC 3463 §3.4:
// X.3.1 "mail system full"), and so is a MAIL whose SIZE= (RFC 1870) would
// leave less than the reserve (RFC 1870 §6.2: 452 when the storage is only
// short for now). Mail already accepted then always finds room for its
// bounces, its queue updates and the directory's writes.
//
// Why a cached value: statvfs(2) is usually a microsecond, but on NFS or a
// failing disk it can block for seconds, and the io_context threads must
// never block (DESIGN rule 7). So MAIL never measures: it reads the value
// that a timer loop measures on the worker pool every kRefreshInterval (one
// measurement at a time, so a hanging statvfs holds one worker, never a
// pile of them). A value up to a second old is precise enough for a
// reserve of megabytes; the first measurement is made at start-up.
//
// What counts: the smallest f_bavail * f_frsize of the paths (what an
// unprivileged process may still write: root's reserved blocks are the
// administrator's last resort, not ours). A path that does not exist yet is
// measured at its nearest existing parent (where it will be created). A
// failed measurement keeps the previous value and is logged once (until a
// success): the reserve guards against a full disk, storage errors are
// reported by the storage itself.
//
// Log: one line when free space falls below the reserve (warn) and one
// when it is back above (info); nothing per refusal here (the SMTP driver
// logs its rejections).
//
// Thread safety: check_mail(), low() and available() from any thread;
// refresh() from one thread at a time (the loop, or start-up before it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "net/asio.hpp"
#include "net/worker_pool.hpp"

namespace tegami::server {

class DiskReserve {
 public:
  static constexpr std::chrono::milliseconds kRefreshInterval{1000};
  // Bytes available to unprivileged writers on the file system of `path`.
  using Measure = std::function<Result<std::uint64_t>(const std::string& path)>;
  static Result<std::uint64_t> statvfs_available(const std::string& path);

  // `reserve` 0: disabled (check_mail never refuses, start() does nothing).
  DiskReserve(std::vector<std::string> paths, std::uint64_t reserve,
              Measure measure = statvfs_available);
  ~DiskReserve();
  DiskReserve(const DiskReserve&) = delete;
  DiskReserve& operator=(const DiskReserve&) = delete;

  bool enabled() const { return reserve_ > 0; }
  std::uint64_t reserve() const { return reserve_; }

  // Blocking: measures every path now, logs a change of state.
  void refresh();

  // Non-blocking. The reply line (without CRLF) refusing a MAIL that
  // declared `declared_size` (SIZE=, or none), or nullopt to go on.
  std::optional<std::string> check_mail(std::optional<std::uint64_t> declared_size) const;
  // Free space is below the reserve (as last measured).
  bool low() const { return low_.load(std::memory_order_relaxed); }
  // The last successful measurement, nullopt before the first.
  std::optional<std::uint64_t> available() const;

  // refresh() on `workers` every kRefreshInterval until stop() (it ends
  // at its next tick, or when `ioc` stops); nothing when disabled.
  void start(asio::io_context& ioc, net::WorkerPool& workers);
  void stop();

 private:
  net::awaitable<void> loop(net::WorkerPool& workers);

  std::vector<std::string> paths_;
  std::uint64_t reserve_;
  Measure measure_;
  static constexpr std::uint64_t kUnknown = ~std::uint64_t{0};
  std::atomic<std::uint64_t> available_{kUnknown};
  std::atomic<bool> low_{false};
  bool failing_ = false;  // refresh() only: a failure was logged, no success since
  std::optional<asio::steady_timer> timer_;
  std::atomic<bool> running_{false};
};

}  // namespace tegami::server
