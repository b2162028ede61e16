// `serve` (the composition root lives in server/serve.cpp), `trace` (when
// given after global options; main.cpp dispatches `tegami trace ...` before
// parsing), `queue` (cmd_queue.cpp) and `grants`.
#include <iostream>

#include "app/cli.hpp"
#include "app/cmd_trace.hpp"
#include "server/serve.hpp"
#include "store/sqlite/sqlite_grant_store.hpp"

#include <chrono>
#include <ctime>

namespace tegami::cli {

void add_other_commands(CLI::App& app, CliContext& ctx) {
  auto* serve = app.add_subcommand("serve", "run the server in the foreground (logs to stderr)");
  serve->callback([&ctx] {
    auto cfg = load_cli_config(ctx);
    ctx.exit_code = cfg ? run_serve(*cfg) : report(cfg.error());
  });

  auto* trace = app.add_subcommand("trace", "explain a message's route from its headers");
  // Everything after `trace` belongs to run_trace (no fallthrough to our options).
  trace->prefix_command()->fallthrough(false);
  CLI::Option* config_opt = app.get_option("-c");
  trace->callback([&ctx, trace, config_opt] {
    std::vector<std::string> args = {"trace"};
    // `tegami -c CONF trace ...`: hand the -c given before `trace` on to it.
    if (config_opt->count() > 0) {
      args.push_back("-c");
      args.push_back(ctx.config_path);
    }
    for (auto& a : trace->remaining()) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ctx.exit_code = run_trace(static_cast<int>(args.size()), argv.data());
  });

  add_queue_command(app, ctx);

  auto* grants = app.add_subcommand("grants", "list: POP-before-SMTP grants in force");
  grants->prefix_command()->fallthrough(false);
  grants->callback([&ctx, grants] {
    auto rest = grants->remaining();
    if (rest.size() != 1 || rest[0] != "list") {
      std::cerr << "usage: tegami -c CONF grants list\n";
      ctx.exit_code = kExitUsage;
      return;
    }
    auto cfg = load_cli_config(ctx);
    if (!cfg) {
      ctx.exit_code = report(cfg.error());
      return;
    }
    auto db = SqliteDb::open(cfg->directory_path());
    if (!db) {
      ctx.exit_code = report(db.error());
      return;
    }
    SqliteGrantStore store(*db);
    auto now = std::chrono::system_clock::now();
    auto list = store.list(now);
    if (!list) {
      ctx.exit_code = report(list.error());
      return;
    }
    // One grant per line: IP, account, expiry (UTC, RFC 3339), seconds left.
    for (const auto& g : *list) {
      auto t = std::chrono::system_clock::to_time_t(g.expires);
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[32];
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
      auto left = std::chrono::duration_cast<std::chrono::seconds>(g.expires - now).count();
      std::cout << g.ip << "\t" << g.account << "\t" << buf << "\t" << left << "s\n";
    }
    ctx.exit_code = kExitOk;
  });
}

}  // namespace tegami::cli
