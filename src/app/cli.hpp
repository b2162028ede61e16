// The tegami command line (DESIGN §5 "Command line"): shared pieces of the
// cmd_*.cpp files. Each file registers one subcommand on the CLI11 app;
// its callback stores the process exit code in CliContext.
//
// Conventions: results go to stdout (one item per line, stable, for
// scripts); errors go to stderr as "tegami: message" with exit code 1;
// usage errors exit 2. Admin commands never create a missing directory
// database (only `init` does), so a wrong -c is noticed, not papered over.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "core/config.hpp"
#include "core/result.hpp"
#include "store/sqlite/sqlite_directory.hpp"

namespace tegami::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

struct CliContext {
  std::string config_path;  // -c CONF, or $TEGAMI_CONFIG
  int exit_code = kExitOk;
};

// Prints "tegami: <message>" to stderr and returns kExitError.
int report(const std::string& message);
inline int report(const Error& e) {
  return report(e.message);
}

// The configuration named by -c / TEGAMI_CONFIG (an error when neither is set).
Result<Config> load_cli_config(const CliContext& ctx);
// The directory of a configured installation (never created here).
Result<std::unique_ptr<SqliteDirectory>> open_cli_directory(const Config& cfg);

// Loads the configuration, opens the directory and runs `fn`; reports a
// failure to load or open and returns kExitError.
int with_directory(const CliContext& ctx,
                   const std::function<int(const Config&, SqliteDirectory&)>& fn);

void add_init_command(CLI::App& app, CliContext& ctx);
void add_check_command(CLI::App& app, CliContext& ctx);
void add_domain_command(CLI::App& app, CliContext& ctx);
void add_user_command(CLI::App& app, CliContext& ctx);
void add_alias_command(CLI::App& app, CliContext& ctx);
// serve, trace, queue (via add_queue_command) and grants.
void add_other_commands(CLI::App& app, CliContext& ctx);
void add_queue_command(CLI::App& app, CliContext& ctx);
void add_dkim_command(CLI::App& app, CliContext& ctx);

}  // namespace tegami::cli
