// Outbound: the queue side of the server, assembled in one place so the
// composition root (serve.cpp) only creates, starts and stops it.
//
// start(), in this order:
//   1. SIGUSR1 handler ("flush the queue": `tegami queue flush` sends it);
//   2. data_dir/tegami.pid: this process's pid, under an exclusive flock
//      held while the server runs — so a second server on the same data_dir
//      refuses to start (two runners would deliver everything twice), and
//      the CLI can tell a live server from a stale pid file (kill -9 leaves
//      the file, but not the lock);
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

class QueueIdGenerator;

// data_dir/tegami.pid, locked while alive (see above).
class PidFile {
 public:
  PidFile() = default;
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  // Creates/locks/writes the file; a permanent Error when another process holds it.
  Result<void> acquire(const std::string& path);

 private:
  std::string path_;
  int fd_ = -1;
};

// The pid of the server holding `path`'s lock, or 0 when none does.
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
  std::unique_ptr<QueueRunner> runner_;
  std::shared_ptr<SelfEndpoints> self_;
};

}  // namespace tegami::server
