#include "server/disk_reserve.hpp"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/log.hpp"

namespace tegami::server {

namespace {

std::string mib(std::uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

}  // namespace

Result<std::uint64_t> DiskReserve::statvfs_available(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  for (;;) {
    struct statvfs st {};
    if (::statvfs(p.c_str(), &st) == 0)
      return static_cast<std::uint64_t>(st.f_bavail) * static_cast<std::uint64_t>(st.f_frsize);
    int err = errno;
    // Not created yet (mail/ before the first delivery): it will live on
    // its parent's file system.
    if (err == ENOENT && p.has_relative_path() && p.parent_path() != p) {
      p = p.parent_path();
      continue;
    }
    return fail(Error::temp("statvfs " + p.string() + ": " + std::strerror(err)));
  }
}

DiskReserve::DiskReserve(std::vector<std::string> paths, std::uint64_t reserve, Measure measure)
    : paths_(std::move(paths)), reserve_(reserve), measure_(std::move(measure)) {}

DiskReserve::~DiskReserve() = default;

void DiskReserve::refresh() {
  if (!enabled()) return;
  std::uint64_t least = kUnknown;
  std::string where;
  for (const auto& path : paths_) {
    auto a = measure_(path);
    if (!a) {
      if (!failing_)
        spdlog::warn("disk reserve: cannot measure free space: {} (keeping the last value)",
                     a.error().message);
      failing_ = true;
      return;
    }
    if (*a < least) {
      least = *a;
      where = path;
    }
  }
  if (failing_) spdlog::info("disk reserve: free space measured again");
  failing_ = false;
  available_.store(least, std::memory_order_relaxed);
  bool now_low = least < reserve_;
  bool was_low = low_.exchange(now_low, std::memory_order_relaxed);
  if (now_low && !was_low) {
    spdlog::warn(
        "disk space low: {} free on the file system of {}, below [limits] disk_reserve {}: "
        "refusing new mail (452 4.3.1)",
        mib(least), where, mib(reserve_));
  } else if (!now_low && was_low) {
    spdlog::info(
        "disk space recovered: {} free on the file system of {}, [limits] disk_reserve {}: "
        "accepting mail again",
        mib(least), where, mib(reserve_));
  }
}

std::optional<std::string> DiskReserve::check_mail(
    std::optional<std::uint64_t> declared_size) const {
  if (!enabled()) return std::nullopt;
  std::uint64_t free = available_.load(std::memory_order_relaxed);
  if (free == kUnknown) return std::nullopt;  // never measured: storage will tell
  if (free < reserve_) return "452 4.3.1 Insufficient system storage";
  // RFC 1870 §6.2: the declared size does not fit now, but may later.
  if (declared_size && *declared_size > free - reserve_)
    return "452 4.3.1 Insufficient system storage for a message of this size";
  return std::nullopt;
}

std::optional<std::uint64_t> DiskReserve::available() const {
  std::uint64_t v = available_.load(std::memory_order_relaxed);
  if (v == kUnknown) return std::nullopt;
  return v;
}

void DiskReserve::start(asio::io_context& ioc, net::WorkerPool& workers) {
  if (!enabled() || running_.exchange(true)) return;
  timer_.emplace(ioc);
  asio::co_spawn(ioc, loop(workers), asio::detached);
}

// The timer is not cancelled here: stop() may run on another io thread than
// the loop, and an asio timer is not safe to use from two threads at once.
// The loop ends at its next tick; serve's ioc.stop() ends it anyway.
void DiskReserve::stop() {
  running_ = false;
}

net::awaitable<void> DiskReserve::loop(net::WorkerPool& workers) {
  while (running_) {
    timer_->expires_after(kRefreshInterval);
    co_await timer_->async_wait(net::kNoThrow);
    if (!running_) break;
    co_await workers.run([this] { refresh(); });
  }
}

}  // namespace tegami::server
