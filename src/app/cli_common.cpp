#include <iostream>

#include "app/cli.hpp"

namespace tegami::cli {

int report(const std::string& message) {
  std::cerr << "tegami: " << message << "\n";
  return kExitError;
}

Result<Config> load_cli_config(const CliContext& ctx) {
  if (ctx.config_path.empty())
    return fail(Error::perm("no configuration: use -c CONF or set TEGAMI_CONFIG"));
  return load_config(ctx.config_path);
}

Result<std::unique_ptr<SqliteDirectory>> open_cli_directory(const Config& cfg) {
  auto db = SqliteDb::open(cfg.directory_path(), SqliteDb::Options{false});
  if (!db)
    return fail(Error::perm(db.error().message + " (is -c right? `tegami init` creates it)"));
  return std::make_unique<SqliteDirectory>(std::move(*db));
}

int with_directory(const CliContext& ctx,
                   const std::function<int(const Config&, SqliteDirectory&)>& fn) {
  auto cfg = load_cli_config(ctx);
  if (!cfg) return report(cfg.error());
  auto dir = open_cli_directory(*cfg);
  if (!dir) return report(dir.error());
  return fn(*cfg, **dir);
}

}  // namespace tegami::cli
