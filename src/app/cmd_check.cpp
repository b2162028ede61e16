// `tegami -c CONF check`: validates the configuration and the files it names
// (directory database, secret key, TLS pair), without creating anything.
// Exit 0 and "configuration OK", or the first problem on stderr and exit 1.
// Domains without a postmaster (RFC 5321 §4.5.1 requires one) are reported
// as warnings on stderr; they do not fail the check.
#include <filesystem>
#include <iostream>

#include "app/cli.hpp"
#include "app/tls_files.hpp"
#include "auth/sealed.hpp"

namespace tegami::cli {

namespace {

int run_check(const CliContext& ctx) {
  auto cfg = load_cli_config(ctx);
  if (!cfg) return report(cfg.error());
  std::error_code ec;
  if (!std::filesystem::is_directory(cfg->data_dir, ec))
    return report("data_dir " + cfg->data_dir + " is not a directory");
  auto dir = open_cli_directory(*cfg);
  if (!dir) return report(dir.error());
  auto domains = (*dir)->list_domains();
  if (!domains) return report(domains.error());
  if (auto key = load_key_file(cfg->secret_key_path()); !key) return report(key.error());
  if (auto tls = check_tls_pair(cfg->tls_cert, cfg->tls_key); !tls) return report(tls.error());

  for (const auto& d : *domains) {
    auto r = (*dir)->resolve("postmaster@" + d);
    if (r && r->kind != Resolution::Kind::Local)
      std::cerr << "tegami: warning: postmaster@" << d
                << " does not reach anyone (RFC 5321 section 4.5.1); e.g. `tegami alias add "
                << "postmaster@" << d << " you@" << d << "`\n";
  }
  std::cout << "configuration OK\n";
  return kExitOk;
}

}  // namespace

void add_check_command(CLI::App& app, CliContext& ctx) {
  auto* sub = app.add_subcommand("check", "validate the configuration, exit 0 or explain");
  sub->callback([&ctx] { ctx.exit_code = run_check(ctx); });
}

}  // namespace tegami::cli
