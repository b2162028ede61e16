// `tegami -c CONF alias add ALIAS TARGET | del ALIAS | list`.
// An alias may have several targets (add it once per target); `del` removes
// all of them; `list` prints "ALIAS TARGET" per line. Targets outside the
// local domains are stored but not yet followed (no forwarding yet).
#include <iostream>

#include "app/cli.hpp"

namespace tegami::cli {

void add_alias_command(CLI::App& app, CliContext& ctx) {
  auto* sub = app.add_subcommand("alias", "manage aliases");
  sub->require_subcommand(1);
  auto alias = std::make_shared<std::string>();
  auto target = std::make_shared<std::string>();

  auto* add = sub->add_subcommand("add", "add a target to an alias");
  add->add_option("ALIAS", *alias, "alias address (its domain must be local)")->required();
  add->add_option("TARGET", *target, "target address")->required();
  add->callback([&ctx, alias, target] {
    ctx.exit_code = with_directory(ctx, [&](const Config&, SqliteDirectory& d) {
      auto r = d.add_alias(*alias, *target);
      return r ? kExitOk : report(r.error());
    });
  });

  auto* del = sub->add_subcommand("del", "delete an alias (all its targets)");
  del->add_option("ALIAS", *alias, "alias address")->required();
  del->callback([&ctx, alias] {
    ctx.exit_code = with_directory(ctx, [&](const Config&, SqliteDirectory& d) {
      auto r = d.del_alias(*alias);
      return r ? kExitOk : report(r.error());
    });
  });

  auto* list = sub->add_subcommand("list", "list aliases: ALIAS TARGET per line");
  list->callback([&ctx] {
    ctx.exit_code = with_directory(ctx, [&](const Config&, SqliteDirectory& d) {
      auto r = d.list_aliases();
      if (!r) return report(r.error());
      for (const auto& a : *r) std::cout << a.alias << " " << a.target << "\n";
      return kExitOk;
    });
  });
}

}  // namespace tegami::cli
