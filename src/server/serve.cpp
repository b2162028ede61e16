#include "server/serve.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <thread>

#include "auth/auth_throttle.hpp"
#include "auth/password.hpp"
#include "auth/sealed.hpp"
#include "core/log.hpp"
#include "net/listener.hpp"
#include "net/tls_context.hpp"
#include "server/disk_reserve.hpp"
#include "server/outbound.hpp"
#include "server/pop3_server.hpp"
#include "server/reverse_dns.hpp"
#include "server/server_context.hpp"
#include "server/smtp_server.hpp"
#include "server/spf_service.hpp"
#include "store/maildir/maildir_store.hpp"
#include "store/sqlite/sqlite_directory.hpp"
#include "store/sqlite/sqlite_grant_store.hpp"

namespace tegami {

int run_serve(const Config& cfg) {
  auto dir = SqliteDirectory::open(cfg.data_dir);
  if (!dir) {
    spdlog::error("cannot open the directory: {}", dir.error().message);
    return 1;
  }
  auto grant_db = SqliteDb::open(cfg.directory_path());
  if (!grant_db) {
    spdlog::error("cannot open the grant store: {}", grant_db.error().message);
    return 1;
  }
  SqliteGrantStore grants(*grant_db);
  auto key = load_key_file(cfg.secret_key_path());
  if (!key)
    spdlog::warn("APOP disabled: cannot load {}: {}", cfg.secret_key_path(), key.error().message);
  auto dummy = hash_password("tegami-timing-equaliser");
  if (!dummy) {
    spdlog::error("password hashing does not work: {}", dummy.error().message);
    return 1;
  }
  AuthThrottle::Settings throttle_settings;
  throttle_settings.base_delay = cfg.auth_failure_delay;
  throttle_settings.window = cfg.auth_failure_window;
  throttle_settings.limit = static_cast<unsigned>(cfg.auth_failure_limit);
  throttle_settings.ipv6_prefix = cfg.auth_failure_ipv6_prefix;
  AuthThrottle throttle(throttle_settings);
  MaildirStore mailboxes(cfg.mail_dir(), cfg.hostname);
  if (auto cleaned = mailboxes.cleanup_tmp(); cleaned && *cleaned > 0)
    spdlog::info("removed {} stale file(s) from Maildir tmp/ folders", *cleaned);

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  asio::io_context ioc(static_cast<int>(cores));
  // Storage work is fsync-bound, not CPU-bound: more workers than cores.
  net::WorkerPool workers(std::max(4u, cores * 2));
  // Password hashing is CPU-bound: its own pool, one thread per core (at
  // least 2), apart from the storage workers (issue 14).
  net::WorkerPool auth_workers(std::max(2u, cores));
  net::ConnectionRegistry registry(cfg.max_connections, cfg.connections_per_ip,
                                   cfg.connections_ipv6_prefix);
  SystemClock clock;
  server::QueueIdGenerator ids(clock);
  server::ServerContext ctx{cfg,      clock, **dir,  mailboxes, workers,
                            registry, ids,   grants, throttle,  key ? &*key : nullptr,
                            *dummy};

  // [tls]: STARTTLS, STLS and the implicit-TLS listeners. Without a usable
  // certificate the server does not start: silently running without TLS
  // would send passwords and mail in clear text.
  auto tls = net::TlsContext::load(cfg.tls_cert, cfg.tls_key);
  if (!tls) {
    spdlog::error("{} (fix [tls] cert/key; `tegami init` writes a self-signed pair)",
                  tls.error().message);
    return 1;
  }
  ctx.tls = tls->get();

  // The clients' reverse DNS: c-ares on its own strand (issue 14).
  auto rdns = server::ReverseDns::create(ioc, cfg.dns_servers, cfg.dns_reverse_timeout);
  if (!rdns) {
    spdlog::error("reverse DNS: {}", rdns.error().message);
    return 1;
  }
  ctx.reverse_dns = rdns->get();
  // SPF of inbound mail (issue 17): c-ares on its own strand, as above.
  std::unique_ptr<server::SpfService> spf;
  if (cfg.spf_check) {
    auto made = server::SpfService::create(
        ioc, cfg.dns_servers,
        std::chrono::duration_cast<std::chrono::milliseconds>(cfg.spf_timeout));
    if (!made) {
      spdlog::error("spf: {}", made.error().message);
      return 1;
    }
    spf = std::move(*made);
    ctx.spf = spf.get();
  }
  ctx.auth_workers = &auth_workers;
  spdlog::info("tls certificate {} sha256={}", cfg.tls_cert, (*tls)->fingerprint());

  // The outbound queue (issue 6): spool recovery, data_dir/tegami.pid (for
  // `tegami queue flush`), DNS and the queue runner. Started before the
  // listeners, so nothing is accepted for relaying before the queue can take it.
  server::Outbound outbound(ioc, cfg, **dir, mailboxes, workers, clock, ids);
  if (auto r = outbound.start(); !r) {
    spdlog::error("{}", r.error().message);
    return 1;
  }
  ctx.outbound = &outbound;

  // [limits] disk_reserve (issue 15): measured once now, then every second
  // on the worker pool; MAIL reads the cached value (server/disk_reserve.hpp).
  server::DiskReserve disk_reserve({cfg.data_dir, cfg.mail_dir(), cfg.queue_dir()},
                                   cfg.disk_reserve);
  if (disk_reserve.enabled()) {
    disk_reserve.refresh();
    if (auto free = disk_reserve.available())
      spdlog::info("disk reserve {} bytes; {} bytes free", cfg.disk_reserve, *free);
    disk_reserve.start(ioc, workers);
    ctx.disk_reserve = &disk_reserve;
  }

  std::vector<std::unique_ptr<net::Listener>> listeners;
  auto add = [&](const char* service, const std::vector<ListenAddress>& addrs,
                 net::SessionFn fn) -> bool {
    if (addrs.empty()) return true;
    auto l = std::make_unique<net::Listener>(ioc, service);
    if (auto r = l->bind(addrs); !r) {
      spdlog::error("{}", r.error().message);
      return false;
    }
    l->start(std::move(fn));
    listeners.push_back(std::move(l));
    return true;
  };
  bool ok =
      add("smtp", cfg.smtp_listen,
          [&ctx](net::tcp::socket s) {
            return server::run_smtp_session(ctx, std::move(s), server::SmtpListener::kSmtp);
          }) &&
      add("submission", cfg.submission_listen,
          [&ctx](net::tcp::socket s) {
            return server::run_smtp_session(ctx, std::move(s), server::SmtpListener::kSubmission);
          }) &&
      add("submissions", cfg.submissions_listen,
          [&ctx](net::tcp::socket s) {
            return server::run_smtp_session(ctx, std::move(s), server::SmtpListener::kSubmissions);
          }) &&
      add("pop3", cfg.pop3_listen,
          [&ctx](net::tcp::socket s) {
            return server::run_pop3_session(ctx, std::move(s), server::Pop3Listener::kPop3);
          }) &&
      add("pop3s", cfg.pop3s_listen, [&ctx](net::tcp::socket s) {
        return server::run_pop3_session(ctx, std::move(s), server::Pop3Listener::kPop3s);
      });
  if (!ok) return 1;
  {
    // The "we are MX" rule needs every SMTP endpoint we answer on.
    std::vector<net::tcp::endpoint> self;
    for (const auto& l : listeners) {
      std::string_view name = l->service();
      if (name != "smtp" && name != "submission" && name != "submissions") continue;
      for (const auto& ep : l->endpoints()) self.push_back(ep);
    }
    outbound.deliver_from(std::move(self));
  }

  // Expired POP-before-SMTP grants are never used (find() checks the
  // expiry); they are deleted at start and every 10 minutes so the table
  // stays small.
  asio::steady_timer purge_timer(ioc);
  std::atomic<bool> purging{true};
  asio::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        while (purging) {
          auto r = co_await workers.run([&] { return grants.purge(clock.now()); });
          if (!r) {
            spdlog::warn("cannot purge expired POP-before-SMTP grants: {}", r.error().message);
          } else if (*r > 0) {
            spdlog::info("purged {} expired POP-before-SMTP grant(s)", *r);
          }
          purge_timer.expires_after(std::chrono::minutes(10));
          co_await purge_timer.async_wait(net::kNoThrow);
        }
      },
      asio::detached);

  asio::signal_set signals(ioc, SIGTERM, SIGINT, SIGHUP);
  std::signal(SIGPIPE, SIG_IGN);
  asio::steady_timer grace(ioc);
  bool stopping = false;
  std::function<void(const std::error_code&, int)> on_signal;
  on_signal = [&](const std::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      // New sessions get the new certificate; open ones keep the context
      // they started with. A bad pair on disk changes nothing. (Reading two
      // small files here, on an io thread, is a rare few-millisecond stall.)
      if (auto r = (*tls)->reload(); r) {
        spdlog::info("SIGHUP: reloaded tls certificate {} sha256={}", cfg.tls_cert,
                     (*tls)->fingerprint());
      } else {
        spdlog::error("SIGHUP: tls reload failed, keeping the current certificate: {}",
                      r.error().message);
      }
      signals.async_wait(on_signal);
      return;
    }
    if (stopping) {
      spdlog::warn("second signal: stopping now");
      ioc.stop();
      return;
    }
    stopping = true;
    spdlog::info("signal {}: stopping; {} session(s) open", sig, registry.active());
    for (auto& l : listeners) l->close();
    registry.interrupt_all();
    outbound.stop();
    disk_reserve.stop();
    purging = false;
    purge_timer.cancel();
    asio::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          auto deadline = std::chrono::steady_clock::now() + cfg.shutdown_grace;
          // Sessions end, and deliveries in flight record their outcomes
          // (so a restart does not send them again), within the grace.
          while ((registry.active() > 0 || outbound.busy()) &&
                 std::chrono::steady_clock::now() < deadline) {
            grace.expires_after(std::chrono::milliseconds(50));
            co_await grace.async_wait(net::kNoThrow);
          }
          if (registry.active() > 0)
            spdlog::warn("grace period over: {} session(s) cut off", registry.active());
          if (outbound.busy())
            spdlog::warn(
                "grace period over: deliveries in flight cut off (sent again after a "
                "restart)");
          ioc.stop();
        },
        asio::detached);
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  spdlog::info("tegami serving as {} ({} io threads)", cfg.hostname, cores);
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < cores; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  workers.join();
  auth_workers.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace tegami
