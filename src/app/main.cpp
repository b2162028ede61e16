// tegami: one binary, subcommands per DESIGN §5. `trace` is dispatched
// before CLI11 parsing because it has its own argument syntax (FILE|-,
// repeated options) that its engineer owns in cmd_trace.cpp.
#include <cstring>
#include <iostream>

#include <CLI/CLI.hpp>

#include "app/cli.hpp"
#include "app/cmd_trace.hpp"
#include "core/log.hpp"

namespace tegami::cli {
namespace {

int run(int argc, char** argv) {
  init_logging(false);
  if (argc >= 2 && std::strcmp(argv[1], "trace") == 0) return run_trace(argc - 1, argv + 1);

  CLI::App app{"tegami: SMTP and POP3 mail server", "tegami"};
  app.require_subcommand(1);
  app.fallthrough();  // `tegami user add X -c CONF` works as well as `tegami -c CONF user add X`
  CliContext ctx;
  bool debug = false;
  app.add_option("-c,--config", ctx.config_path, "configuration file")->envname("TEGAMI_CONFIG");
  app.add_flag("--debug", debug, "log debug messages");
  app.parse_complete_callback([&debug] {
    if (debug) spdlog::set_level(spdlog::level::debug);
  });

  add_init_command(app, ctx);
  add_check_command(app, ctx);
  add_domain_command(app, ctx);
  add_user_command(app, ctx);
  add_alias_command(app, ctx);
  add_other_commands(app, ctx);
  add_dkim_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return ctx.exit_code;
}

}  // namespace
}  // namespace tegami::cli

int main(int argc, char** argv) {
  try {
    return tegami::cli::run(argc, argv);
  } catch (const std::exception& e) {
    // Only bugs and start-up failures throw (DESIGN rule 6).
    std::cerr << "tegami: " << e.what() << "\n";
    return tegami::cli::kExitError;
  }
}
