// `tegami -c CONF queue list | show ID | flush | delete ID`: the outbound
// queue (docs/queue-format.md), working while the server runs.
//
// The command reads and changes the spool on disk (data_dir/queue/) through
// SpoolStore, never through the server: `delete` takes the spool lock, so a
// delivery in flight cannot resurrect the entry (the server notices at its
// next attempt). `flush` signals the running server (SIGUSR1 to the pid in
// data_dir/tegami.pid, whose lock proves it is alive); with no server
// running it makes every pending recipient due, for the next start.
//
// With no server running, `flush` and `delete` hold data_dir/tegami.pid's
// lock themselves while they change the spool (server/outbound.hpp PidFile,
// Role::kCommand; issue 15): a server starting meanwhile waits for them
// instead of recovering, and then delivering from, a spool being rewritten
// (flush's load-change-update of an envelope would otherwise overwrite what
// a just-started server recorded). Two such commands run one after the
// other (the second says it waits). When a server holds the lock, they go
// through the signal and the spool lock as above. `list` and `show` only
// read, and take no lock.
//
// Output (stdout, stable for scripts): `list` prints one line per message
//   ID<TAB>SIZE<TAB>ARRIVAL (RFC 3339 UTC)<TAB><SENDER>
// followed by one line per unfinished recipient
//   <TAB><RCPT><TAB>STATUS<TAB>attempts=N<TAB>next=TIME<TAB>DIAGNOSTIC
// `show` prints every envelope field, every recipient, then the message's
// header section.
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <iostream>

#include "app/cli.hpp"
#include "mail/date.hpp"
#include "mail/dsn.hpp"
#include "server/outbound.hpp"
#include "store/spool/spool_store.hpp"

namespace tegami::cli {

namespace {

std::string when(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return "-";
  return mail::format_rfc3339_utc(std::chrono::floor<std::chrono::seconds>(t));
}

int with_spool(const CliContext& ctx, const std::function<int(const Config&, SpoolStore&)>& fn) {
  auto cfg = load_cli_config(ctx);
  if (!cfg) return report(cfg.error());
  SpoolStore spool(cfg->queue_dir());
  return fn(*cfg, spool);
}

void print_recipient(const QueueRecipient& r) {
  std::cout << "\t<" << r.address << ">\t" << to_string(r.status) << "\tattempts=" << r.attempts
            << "\tnext=" << (r.status == RecipientStatus::kPending ? when(r.next_attempt) : "-")
            << "\t" << (r.diagnostic.empty() ? "-" : r.diagnostic) << "\n";
}

int list(const Config&, SpoolStore& spool) {
  auto ids = spool.list();
  if (!ids) return report(ids.error());
  for (const auto& id : *ids) {
    auto e = spool.load(id);
    if (!e) {
      if (e.error().enhanced == "ENOENT") continue;  // delivered meanwhile
      std::cerr << "tegami: " << id << ": " << e.error().message << "\n";
      continue;
    }
    std::cout << e->id << "\t" << e->size << "\t" << when(e->created) << "\t<" << e->sender
              << ">\n";
    for (const auto& r : e->recipients)
      if (r.status == RecipientStatus::kPending || r.status == RecipientStatus::kFailed)
        print_recipient(r);
  }
  return kExitOk;
}

int show(const Config&, SpoolStore& spool, const std::string& id) {
  if (!valid_queue_id(id)) return report("'" + id + "' is not a queue id");
  auto e = spool.load(id);
  if (!e)
    return report(e.error().enhanced == "ENOENT" ? "no message " + id + " in the queue"
                                                 : e.error().message);
  std::cout << "id: " << e->id << "\n"
            << "sender: <" << e->sender << ">\n"
            << "arrival: " << when(e->created) << "\n"
            << "size: " << e->size << "\n"
            << "8bit: " << (e->eight_bit ? "yes" : "no") << "\n"
            << "delay-warned: " << (e->delay_warned ? "yes" : "no") << "\n";
  // RFC 3461 (issue 15): shown only when the message has them.
  if (e->ret != mail::DsnRet::kUnspecified) std::cout << "ret: " << mail::ret_text(e->ret) << "\n";
  if (!e->envid.empty()) std::cout << "envid: " << e->envid << "\n";
  if (e->double_bounce) std::cout << "double-bounce: yes\n";
  for (const auto& r : e->recipients) {
    std::cout << "recipient: <" << r.address << ">\n"
              << "  status: " << to_string(r.status) << "\n"
              << "  attempts: " << r.attempts << "\n"
              << "  last-attempt: " << when(r.last_attempt) << "\n"
              << "  next-attempt: "
              << (r.status == RecipientStatus::kPending ? when(r.next_attempt) : "-") << "\n"
              << "  status-code: " << (r.status_code.empty() ? "-" : r.status_code) << "\n"
              << "  remote-mta: " << (r.remote_mta.empty() ? "-" : r.remote_mta) << "\n"
              << "  diagnostic: " << (r.diagnostic.empty() ? "-" : r.diagnostic) << "\n"
              << "  stage: " << (r.stage.empty() ? "-" : r.stage) << "\n";
    if (r.notify.given()) std::cout << "  notify: " << mail::notify_text(r.notify) << "\n";
    if (r.orcpt.given()) std::cout << "  orcpt: " << r.orcpt.type << ";" << r.orcpt.address << "\n";
    if (r.relayed_dsn) std::cout << "  relayed-dsn: owed\n";
  }
  auto m = spool.read_message(id);
  if (m) std::cout << "\n" << mail::header_section(*m);
  return kExitOk;
}

// Takes data_dir/tegami.pid's lock for this command unless a server holds
// it: the server's pid (no lock taken), or 0 with `lock` held.
Result<long> lock_unless_server(const Config& cfg, server::PidFile& lock) {
  return lock.acquire(server::Outbound::pid_path(cfg), server::PidFile::Role::kCommand,
                      [](long pid) {
                        std::cerr << "tegami: waiting for another `tegami queue` command (pid "
                                  << pid << ") to finish\n";
                      });
}

int flush(const Config& cfg, SpoolStore& spool) {
  server::PidFile lock;
  // A server that exits between acquire() and kill() is looked for again
  // (then its lock is free, or a new server holds it).
  constexpr int kTries = 3;
  for (int attempt = 1;; ++attempt) {
    auto pid = lock_unless_server(cfg, lock);
    if (!pid) return report(pid.error());
    if (*pid == 0) break;
    if (::kill(static_cast<pid_t>(*pid), SIGUSR1) == 0) {
      std::cout << "flush requested from the server (pid " << *pid << ")\n";
      return kExitOk;
    }
    if (errno != ESRCH || attempt == kTries)
      return report("cannot signal the server (pid " + std::to_string(*pid) + ")");
  }
  // No server, and none starts until `lock` is released: make everything
  // due for the next start.
  auto ids = spool.list();
  if (!ids) return report(ids.error());
  auto now = std::chrono::system_clock::now();
  std::size_t n = 0;
  for (const auto& id : *ids) {
    auto e = spool.load(id);
    if (!e) continue;
    for (auto& r : e->recipients)
      if (r.status == RecipientStatus::kPending) r.next_attempt = now;
    if (auto u = spool.update(*e); u && *u) ++n;
  }
  std::cout << "no server is running; " << n << " message(s) will be tried at the next start\n";
  return kExitOk;
}

int remove(const Config& cfg, SpoolStore& spool, const std::string& id) {
  if (!valid_queue_id(id)) return report("'" + id + "' is not a queue id");
  // With a server running, the spool lock (taken by remove()) orders this
  // with its envelope updates; without one, the pid lock keeps one from
  // starting until the entry is gone.
  server::PidFile lock;
  if (auto pid = lock_unless_server(cfg, lock); !pid) return report(pid.error());
  auto r = spool.remove(id);
  if (!r) return report(r.error());
  if (!*r) return report("no message " + id + " in the queue");
  std::cout << "deleted " << id << "\n";
  return kExitOk;
}

}  // namespace

void add_queue_command(CLI::App& app, CliContext& ctx) {
  auto* sub = app.add_subcommand("queue", "the outbound queue: list | show ID | flush | delete ID");
  sub->require_subcommand(1);
  auto id = std::make_shared<std::string>();

  sub->add_subcommand("list", "one line per queued message, then its unfinished recipients")
      ->callback([&ctx] { ctx.exit_code = with_spool(ctx, list); });

  auto* sh = sub->add_subcommand("show", "the envelope and the headers of one message");
  sh->add_option("ID", *id, "queue id")->required();
  sh->callback([&ctx, id] {
    ctx.exit_code =
        with_spool(ctx, [&](const Config& c, SpoolStore& s) { return show(c, s, *id); });
  });

  sub->add_subcommand("flush", "try every queued message now")->callback([&ctx] {
    ctx.exit_code = with_spool(ctx, flush);
  });

  auto* del = sub->add_subcommand("delete", "remove a message from the queue (no bounce)");
  del->add_option("ID", *id, "queue id")->required();
  del->callback([&ctx, id] {
    ctx.exit_code =
        with_spool(ctx, [&](const Config& c, SpoolStore& s) { return remove(c, s, *id); });
  });
}

}  // namespace tegami::cli
