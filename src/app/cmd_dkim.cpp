// `tegami -c CONF dkim keygen DOMAIN [--selector S] [--algorithm A] [--bits N]`
// and `tegami -c CONF dkim list` (DESIGN §5): DKIM signing keys under
// data_dir/dkim (layout in dkim/dkim_key_store.hpp).
//
// keygen prints the record to publish as one zone-file line on stdout:
//   tegami202612._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=MIIB..." "..." )
// and refuses an existing selector (exit 1, nothing written). Algorithms:
// rsa-sha256 (default, 2048 bits; --bits 1024..4096) or ed25519-sha256
// ("rsa" and "ed25519" are accepted too). Default selector: tegami + the
// current UTC year and month.
//
// list prints one key per line, tab-separated: domain, selector,
// algorithm, bits, path, zone-file line.
#include <chrono>
#include <iostream>

#include "app/cli.hpp"
#include "dkim/dkim_key_store.hpp"

namespace tegami::cli {

namespace {

struct KeygenArgs {
  std::string domain;
  std::string selector;
  std::string algorithm = "rsa-sha256";
  int bits = 2048;
};

std::string store_root(const Config& cfg) {
  return cfg.data_dir + "/dkim";
}

int keygen(const CliContext& ctx, const KeygenArgs& a) {
  dkim::DkimKeyType type;
  if (a.algorithm == "rsa-sha256" || a.algorithm == "rsa") {
    type = dkim::DkimKeyType::kRsa;
  } else if (a.algorithm == "ed25519-sha256" || a.algorithm == "ed25519") {
    type = dkim::DkimKeyType::kEd25519;
  } else {
    std::cerr << "tegami: unknown --algorithm " << a.algorithm
              << " (rsa-sha256 or ed25519-sha256)\n";
    return kExitUsage;
  }
  if (type == dkim::DkimKeyType::kRsa && (a.bits < 1024 || a.bits > 4096)) {
    std::cerr << "tegami: --bits must be 1024 to 4096 (RFC 8301 §3.2)\n";
    return kExitUsage;
  }
  auto cfg = load_cli_config(ctx);
  if (!cfg) return report(cfg.error());
  std::string selector =
      a.selector.empty() ? dkim::DkimKeyStore::default_selector(std::chrono::system_clock::now())
                         : a.selector;
  dkim::DkimKeyStore store(store_root(*cfg));
  auto key = store.create(a.domain, selector, type, a.bits);
  if (!key) return report(key.error());
  auto line = dkim::zone_file_record(*key);
  if (!line) return report(line.error());
  std::cout << *line << "\n";
  std::cerr << "tegami: wrote " << key->path << "; publish the record above in DNS\n";
  return kExitOk;
}

int list(const CliContext& ctx) {
  auto cfg = load_cli_config(ctx);
  if (!cfg) return report(cfg.error());
  dkim::DkimKeyStore store(store_root(*cfg));
  auto keys = store.list();
  if (!keys) return report(keys.error());
  for (const auto& k : *keys) {
    auto line = dkim::zone_file_record(k);
    if (!line) return report(line.error());
    std::cout << k.domain << "\t" << k.selector << "\t" << mailauth::to_string(k.key.algorithm())
              << "\t" << k.key.bits() << "\t" << k.path << "\t" << *line << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_dkim_command(CLI::App& app, CliContext& ctx) {
  auto* sub = app.add_subcommand("dkim", "DKIM signing keys: keygen, list");
  sub->require_subcommand(1);

  auto args = std::make_shared<KeygenArgs>();
  auto* gen = sub->add_subcommand("keygen", "create a signing key and print its DNS TXT record");
  gen->add_option("DOMAIN", args->domain, "signing domain (d=)")->required();
  gen->add_option("--selector", args->selector, "selector (s=); default tegamiYYYYMM");
  gen->add_option("--algorithm", args->algorithm, "rsa-sha256 (default) or ed25519-sha256");
  gen->add_option("--bits", args->bits, "RSA key size, 1024..4096 (default 2048)");
  gen->callback([&ctx, args] { ctx.exit_code = keygen(ctx, *args); });

  auto* ls = sub->add_subcommand("list", "list keys and their DNS records");
  ls->callback([&ctx] { ctx.exit_code = list(ctx); });
}

}  // namespace tegami::cli
