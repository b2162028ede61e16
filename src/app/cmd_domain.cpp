// `tegami -c CONF domain add|del|list [D]`: the local mail domains.
// `del` refuses while users or aliases of the domain remain. Note that
// `add` creates no postmaster: alias postmaster@D (RFC 5321 §4.5.1).
#include <iostream>

#include "app/cli.hpp"

namespace tegami::cli {

void add_domain_command(CLI::App& app, CliContext& ctx) {
  auto* sub = app.add_subcommand("domain", "manage local mail domains");
  sub->require_subcommand(1);
  auto name = std::make_shared<std::string>();

  auto* add = sub->add_subcommand("add", "add a local domain");
  add->add_option("D", *name, "domain")->required();
  add->callback([&ctx, name] {
    ctx.exit_code = with_directory(ctx, [&](const Config&, SqliteDirectory& d) {
      auto r = d.add_domain(*name);
      return r ? kExitOk : report(r.error());
    });
  });

  auto* del =
      sub->add_subcommand("del", "delete a local domain (it must have no users or aliases)");
  del->add_option("D", *name, "domain")->required();
  del->callback([&ctx, name] {
    ctx.exit_code = with_directory(ctx, [&](const Config&, SqliteDirectory& d) {
      auto r = d.del_domain(*name);
      return r ? kExitOk : report(r.error());
    });
  });

  auto* list = sub->add_subcommand("list", "list local domains, one per line");
  list->callback([&ctx] {
    ctx.exit_code = with_directory(ctx, [&](const Config&, SqliteDirectory& d) {
      auto r = d.list_domains();
      if (!r) return report(r.error());
      for (const auto& x : *r) std::cout << x << "\n";
      return kExitOk;
    });
  });
}

}  // namespace tegami::cli
