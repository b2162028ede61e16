#include "server/outbound.hpp"

#include "server/dkim_signing.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include "core/log.hpp"
#include "server/server_context.hpp"

namespace tegami::server {

namespace {

constexpr std::string_view kCommandTag = "queue";

// The holder named by an open pid file's first line: "PID" (a server) or
// "PID queue" (a command).
PidLockHolder read_holder(int fd) {
  char buf[64] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  PidLockHolder h;
  h.kind = PidLockHolder::Kind::kUnknown;
  if (n <= 0) return h;
  std::string_view line(buf, static_cast<std::size_t>(n));
  line = line.substr(0, line.find('\n'));
  char* end = nullptr;
  long pid = std::strtol(buf, &end, 10);
  if (pid <= 0 || end == buf) return h;
  std::string_view rest = line.substr(std::min(line.size(), static_cast<std::size_t>(end - buf)));
  h.pid = pid;
  if (rest.empty()) {
    h.kind = PidLockHolder::Kind::kServer;
  } else if (rest.size() == kCommandTag.size() + 1 && rest[0] == ' ' &&
             rest.substr(1) == kCommandTag) {
    h.kind = PidLockHolder::Kind::kCommand;
  }
  return h;
}

// True when `fd` is still the file at `path` (see PidFile: a holder unlinks
// the file before it releases the lock).
bool still_linked(int fd, const std::string& path) {
  struct stat a {};
  struct stat b {};
  if (::fstat(fd, &a) != 0 || ::stat(path.c_str(), &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

PidFile::~PidFile() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still locked: nobody else can hold it now
  ::close(fd_);
}

Result<long> PidFile::acquire(const std::string& path, Role role,
                              const std::function<void(long)>& on_wait) {
  // A holder whose content cannot be read yet is one that has just taken the
  // lock (it writes right after): waited for silently a few rounds, then
  // reported like a command.
  constexpr int kQuietRounds = 10;
  int unknown_rounds = 0;
  bool reported = false;
  for (;;) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    // A file we may not write (left by another user's command killed with
    // -9): lockable all the same; once locked, it is stale and replaced.
    bool read_only = false;
    if (fd < 0 && errno == EACCES) {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      read_only = fd >= 0;
    }
    if (fd < 0) return fail(Error::perm("cannot open " + path + ": " + std::strerror(errno)));
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      if (!still_linked(fd, path)) {  // its previous holder unlinked it: start over
        ::close(fd);
        continue;
      }
      if (read_only) {
        int err = ::unlink(path.c_str()) == 0 ? 0 : errno;
        ::close(fd);
        if (err != 0)
          return fail(Error::perm("cannot replace " + path + ": " + std::strerror(err)));
        continue;
      }
      std::string text = std::to_string(::getpid());
      if (role == Role::kCommand) text += " " + std::string(kCommandTag);
      text += "\n";
      // Written over the old content, then cut to length: a reader never
      // sees an empty file, only the old first line or the new one.
      if (::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()) ||
          ::ftruncate(fd, static_cast<off_t>(text.size())) != 0) {
        int err = errno;
        ::close(fd);
        return fail(Error::perm("cannot write " + path + ": " + std::strerror(err)));
      }
      path_ = path;
      fd_ = fd;
      return 0L;
    }
    int err = errno;
    if (err != EWOULDBLOCK) {
      ::close(fd);
      return fail(Error::perm("cannot lock " + path + ": " + std::strerror(err)));
    }
    PidLockHolder holder = read_holder(fd);
    ::close(fd);
    if (holder.kind == PidLockHolder::Kind::kServer) return holder.pid;
    bool command = holder.kind == PidLockHolder::Kind::kCommand;
    if (!command) ++unknown_rounds;
    if (!reported && (command || unknown_rounds > kQuietRounds)) {
      reported = true;
      if (on_wait) on_wait(holder.pid);
    }
    std::this_thread::sleep_for(kRetry);
  }
}

PidLockHolder pid_lock_holder(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return {};
  PidLockHolder h;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) h = read_holder(fd);
  ::close(fd);
  return h;
}

long running_server_pid(const std::string& path) {
  PidLockHolder h = pid_lock_holder(path);
  return h.kind == PidLockHolder::Kind::kServer ? h.pid : 0;
}

Outbound::Outbound(asio::io_context& ioc, const Config& config, Directory& directory,
                   MailboxStore& mailboxes, net::WorkerPool& workers, const Clock& clock,
                   QueueIdGenerator& ids)
    : ioc_(ioc),
      config_(config),
      directory_(directory),
      mailboxes_(mailboxes),
      workers_(workers),
      clock_(clock),
      ids_(ids),
      strand_(asio::make_strand(ioc)),
      flush_signal_(ioc,
                    SIGUSR1),  // installed before the pid file exists: no early SIGUSR1 kills us
      spool_(config.queue_dir()) {}

Outbound::~Outbound() = default;

void Outbound::arm_signal() {
  flush_signal_.async_wait([this](const std::error_code& ec, int) {
    if (ec) return;
    spdlog::info("SIGUSR1: flushing the queue");
    if (runner_) runner_->flush();
    arm_signal();
  });
}

Result<void> Outbound::start() {
  arm_signal();
  const std::string pid_file = pid_path(config_);
  auto holder = pid_.acquire(pid_file, PidFile::Role::kServer, [&pid_file](long pid) {
    spdlog::warn("waiting for `tegami queue` (pid {}) to finish with the spool ({} is locked)", pid,
                 pid_file);
  });
  if (!holder) return fail(holder.error());
  if (*holder > 0)
    return fail(Error::perm("another tegami server is running with this data_dir (pid " +
                            std::to_string(*holder) + "; " + pid_file + " is locked)"));
  auto rec = spool_.recover();
  if (!rec) return fail(Error::perm("queue: " + rec.error().message));
  if (rec->tmp_removed + rec->orphans_removed + rec->corrupt > 0)
    spdlog::warn(
        "queue recovery: {} partial file(s) and {} orphan message(s) removed, {} "
        "unreadable envelope(s) moved to corrupt/",
        rec->tmp_removed, rec->orphans_removed, rec->corrupt);
  auto resolver = net::DnsResolver::create(strand_, config_.dns_servers);
  if (!resolver) return fail(resolver.error());
  resolver_ = std::move(*resolver);

  DeliveryOptions d;
  d.helo_name = config_.hostname;
  d.routes = config_.routes;
  d.mx_port = config_.mx_port;
  d.connect_timeout = config_.queue_connect_timeout;
  d.greeting_timeout = config_.queue_greeting_timeout;
  d.data_timeout = config_.queue_data_timeout;
  self_ = std::make_shared<SelfEndpoints>();
  d.self = self_;
  d.workers = &workers_;
  // Opportunistic STARTTLS (RFC 3207, RFC 7435): one client context for
  // every outbound connection; no certificate needed, nothing verified
  // strictly. Without it tegami still delivers, in clear text.
  auto tls_client = net::make_client_context(net::ClientTlsOptions{});
  if (tls_client) {
    d.tls_client = std::move(*tls_client);
  } else {
    spdlog::warn("outbound STARTTLS disabled: {}", tls_client.error().message);
  }
  agent_ = std::make_unique<DeliveryAgent>(strand_, *resolver_, d);
  bouncer_ = std::make_unique<Bouncer>(Bouncer::Options{config_.hostname, config_.queue_lifetime,
                                                        config_.postmaster, config_.message_size},
                                       directory_, mailboxes_, spool_, workers_, clock_, ids_);
  QueuePolicy policy;
  policy.retry = config_.queue_retry;
  if (policy.retry.empty()) policy.retry = {std::chrono::seconds(300)};
  policy.lifetime = config_.queue_lifetime;
  policy.delay_warning = config_.queue_delay_warning;
  runner_ = std::make_unique<QueueRunner>(strand_, spool_, *agent_, *bouncer_, workers_, clock_,
                                          policy, config_.routes, limits());
  dkim_ = std::make_unique<DkimSigning>(config_.data_dir + "/dkim");
  runner_->set_dkim(dkim_.get());
  return {};
}

QueueRunner::Limits Outbound::limits() const {
  QueueRunner::Limits l;
  l.connections = config_.queue_max_connections;
  l.per_destination = config_.queue_destination_concurrency;
  l.active_messages = config_.queue_active_messages;
  l.reuse = config_.queue_connection_reuse;
  l.scan_interval = config_.queue_scan_interval;
  return l;
}

void Outbound::deliver_from(std::vector<asio::ip::tcp::endpoint> self) {
  // Written before the runner starts, read-only afterwards (on its strand).
  self_->bound = std::move(self);
  self_->host_addresses = SelfEndpoints::interface_addresses();
  runner_->start();
}

void Outbound::stop() {
  std::error_code ignored;
  flush_signal_.cancel(ignored);
  if (runner_) runner_->stop();
}

Result<void> Outbound::enqueue(const QueueEntry& entry, std::string_view message) {
  return spool_.enqueue(entry, message);
}

QueueStore& Outbound::store() {
  return spool_;
}

Result<bool> Outbound::cancel(const std::string& id) {
  auto r = spool_.remove(id);
  if (!r && runner_) runner_->cancel_later(id);
  return r;
}

Bouncer* Outbound::bouncer() {
  return bouncer_.get();
}

void Outbound::submit(const std::string& id) {
  if (runner_) runner_->submit(id);
}

}  // namespace tegami::server
