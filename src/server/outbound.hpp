// Outbound: the queue side of the server, assembled in one place so the
// composition root (serve.cpp) only creates, starts and stops it.
//
// start(), in this order:
//   1. SIGUSR1 handler ("flush the queue": `tegami queue flush` sends it);
//   2. data_dir/tegami.pid: this process's pid, under an exclusive flock
//      held while the server runs — so a second server on the same data_dir
//      refuses to start (two runners would deliver everything twice), and
//      the CLI can tell a live server from a stale pid file (kill -9 leaves
//      the file, but not the lock); while a `tegami queue` command holds
//      that lock (changing the spool with no server running), the server
//      waits for it, before recovery touches the spool (PidFile below);
//   3. spool recovery (SpoolStore::recover, logged);
//   4. the c-ares resolver ([dns] servers), the client TLS context for
//      opportunistic STARTTLS, the DeliveryAgent, the Bouncer and the
//      QueueRunner on one strand.
// deliver_from(): once the listeners are bound, their endpoints (for the
// "we are MX" rule) and the start of the queue runner.
// stop(): the runner starts nothing new (graceful shutdown); busy() stays
// true until the deliveries in flight have recorded their outcomes.
//
// The SMTP intake (server/intake.hpp) uses enqueue()/cancel() on the worker
// pool and submit() once the message is acknowledged.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "net/asio.hpp"
#include "net/dns_resolver.hpp"
#include "net/worker_pool.hpp"
#include "server/bouncer.hpp"
#include "server/delivery_agent.hpp"
#include "server/queue_runner.hpp"
#include "store/directory.hpp"
#include "store/mailbox_store.hpp"
#include "store/spool/spool_store.hpp"

namespace tegami::server {

class DkimSigning;

class QueueIdGenerator;

// data_dir/tegami.pid, under an exclusive flock while its holder works on
// the spool: a server (for its whole life; the file says "PID\n") or a
// `tegami queue` command that changes the spool while no server runs
// ("PID queue\n"; issue 15). A server never runs beside either: it waits
// for a command to finish, and refuses to start beside another server. A
// command defers to a running server (signal, spool lock; app/cmd_queue.cpp).
//
// The holder unlinks the file while still holding the lock, then closes it
// (kill -9 leaves the file, never the lock). So whoever gets the lock
// checks that the file it locked is still the one at `path` (same inode),
// and starts over if not: else two processes could each hold a lock, one
// on an unlinked file and one on its successor.
class PidFile {
 public:
  enum class Role { kServer, kCommand };
  // While a command holds the lock, acquire() retries every kRetry.
  static constexpr std::chrono::milliseconds kRetry{100};

  PidFile() = default;
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  // Creates/locks/writes the file for `role`. While a `tegami queue`
  // command holds it, waits (calling on_wait(its pid) once). When a server
  // holds it, returns that server's pid, without the lock; 0 once this
  // process holds the lock. An Error when the file cannot be opened,
  // locked or written.
  Result<long> acquire(const std::string& path, Role role,
                       const std::function<void(long)>& on_wait = {});
  bool held() const { return fd_ >= 0; }

 private:
  std::string path_;
  int fd_ = -1;
};

// Who holds `path`'s lock now, as its content says.
struct PidLockHolder {
  enum class Kind { kNone, kServer, kCommand, kUnknown };
  Kind kind = Kind::kNone;  // kUnknown: held, content not (yet) readable
  long pid = 0;
};
PidLockHolder pid_lock_holder(const std::string& path);

// The pid of the server holding `path`'s lock, or 0 when none does (no
// holder, or a `tegami queue` command).
long running_server_pid(const std::string& path);

class Outbound {
 public:
  Outbound(asio::io_context& ioc, const Config& config, Directory& directory,
           MailboxStore& mailboxes, net::WorkerPool& workers, const Clock& clock,
           QueueIdGenerator& ids);
  ~Outbound();

  Result<void> start();
  // Our own SMTP listeners' endpoints; starts working the queue.
  void deliver_from(std::vector<asio::ip::tcp::endpoint> self);
  void stop();
  bool busy() const { return runner_ && runner_->busy(); }

  // Blocking (run them on the worker pool).
  Result<void> enqueue(const QueueEntry& entry, std::string_view message);
  // The streaming form (issue 13): the message file, then its envelope.
  QueueStore& store();
  // Removes an entry whose intake failed; when that fails, the queue
  // runner retries it (and never delivers it).
  Result<bool> cancel(const std::string& id);
  // Thread-safe.
  void submit(const std::string& id);
  // The DSN sender (null before start()): the SMTP intake sends "delivered"
  // notices with it (RFC 3461 §5.3); send() may run on any executor.
  Bouncer* bouncer();

  static std::string pid_path(const Config& config) { return config.data_dir + "/tegami.pid"; }

 private:
  void arm_signal();
  QueueRunner::Limits limits() const;

  asio::io_context& ioc_;
  const Config& config_;
  Directory& directory_;
  MailboxStore& mailboxes_;
  net::WorkerPool& workers_;
  const Clock& clock_;
  QueueIdGenerator& ids_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::signal_set flush_signal_;
  PidFile pid_;
  SpoolStore spool_;
  std::unique_ptr<net::DnsResolver> resolver_;
  std::unique_ptr<DeliveryAgent> agent_;
  std::unique_ptr<Bouncer> bouncer_;
  std::unique_ptr<DkimSigning> dkim_;  // signs what leaves (issue 17)
  std::unique_ptr<QueueRunner> runner_;
  std::shared_ptr<SelfEndpoints> self_;
};

}  // namespace tegami::server
