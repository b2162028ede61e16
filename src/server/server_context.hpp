// ServerContext: what the session drivers share, handed to them by the
// composition root (serve.cpp). No globals (DESIGN rule 8): every component
// a driver uses arrives through here, as an interface.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "auth/auth_throttle.hpp"
#include "auth/sealed.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "net/connection_registry.hpp"
#include "net/tls_context.hpp"
#include "net/worker_pool.hpp"
#include "store/directory.hpp"
#include "store/grant_store.hpp"
#include "store/mailbox_store.hpp"

namespace tegami::server {

// Queue ids: 16 upper-case hex digits from the time in microseconds and a
// process-wide counter, unique within this host and sortable by time.
class QueueIdGenerator {
 public:
  explicit QueueIdGenerator(const Clock& clock) : clock_(clock) {}
  std::string next();

 private:
  const Clock& clock_;
  std::atomic<std::uint32_t> counter_{0};
};

class DiskReserve;
class Outbound;
class ReverseDns;
class SpfService;

struct ServerContext {
  const Config& config;
  const Clock& clock;
  Directory& directory;
  MailboxStore& mailboxes;
  net::WorkerPool& workers;
  net::ConnectionRegistry& registry;
  QueueIdGenerator& queue_ids;
  GrantStore& grants;
  AuthThrottle& throttle;
  const SecretKey* secret_key;  // unseals APOP secrets; null when the key file is unreadable
  std::string dummy_hash;       // verified for unknown users so timing does not tell
  // STARTTLS/STLS and the implicit-TLS listeners; null: no TLS offered.
  net::TlsContext* tls = nullptr;
  // The outbound queue (server/outbound.hpp); null: relaying answers 451.
  Outbound* outbound = nullptr;
  // Password checks (crypt, PBKDF2, unsealing; with their directory
  // lookup) run on their own pool (issue 14), so a burst of logins can
  // never starve the fsyncs of mail intake, nor the reverse; null: workers.
  net::WorkerPool* auth_workers = nullptr;
  net::WorkerPool& hashing() { return auth_workers != nullptr ? *auth_workers : workers; }
  // The client's reverse DNS (c-ares, never a worker); null: "unknown".
  ReverseDns* reverse_dns = nullptr;
  // SPF checks of inbound mail ([spf] check; c-ares on its own strand);
  // null: not checked.
  SpfService* spf = nullptr;
  // [limits] disk_reserve (server/disk_reserve.hpp): MAIL is 452 4.3.1
  // while free space is short; null: no check.
  const DiskReserve* disk_reserve = nullptr;
  std::atomic<std::uint64_t> next_session{1};
  std::atomic<std::uint64_t> apop_counter{0};  // feeds unique APOP banner timestamps

  // "S" + a short per-process counter, used in every log line of a session.
  std::string new_session_id(char prefix) {
    return std::string(1, prefix) + std::to_string(next_session.fetch_add(1));
  }
};

}  // namespace tegami::server
