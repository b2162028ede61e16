// `tegami -c CONF user add|passwd|del|list`: accounts.
//
//   user add ADDR [--password-stdin] [--apop] [--hash HASH]
//   user passwd ADDR [--password-stdin] [--apop]
//   user del ADDR
//   user list                     one "ADDRESS" or "ADDRESS<TAB>apop" per line
//
// The password is stored as a yescrypt hash (auth/password.hpp); with
// --apop it is also sealed under DIR/secret.key for APOP (auth/sealed.hpp).
// --hash imports an existing crypt(3) hash ($y$ $6$ $5$ $2b$) instead; it
// cannot go with --apop, which needs the clear password. `passwd` without
// --apop removes a stored APOP secret: it holds the OLD password, and would
// otherwise keep it valid for APOP logins.
#include <iostream>

#include <openssl/crypto.h>

#include "app/cli.hpp"
#include "app/password_input.hpp"
#include "auth/password.hpp"
#include "auth/sealed.hpp"
#include "store/sqlite/address_rules.hpp"

namespace tegami::cli {

namespace {

struct UserOptions {
  std::string address;
  bool password_stdin = false;
  bool apop = false;
  std::string hash;
};

// Hash, and the sealed APOP secret when asked, of a password read per `o`.
struct Credentials {
  std::string hash;
  std::optional<std::string> apop_sealed;
};

Result<Credentials> make_credentials(const Config& cfg, const UserOptions& o,
                                     const std::string& address) {
  if (!o.hash.empty()) {
    if (!is_supported_hash(o.hash))
      return fail(Error::perm("--hash is not a supported crypt(3) hash ($y$, $6$, $5$ or $2b$)"));
    return Credentials{o.hash, std::nullopt};
  }
  // Load the key before asking for the password: fail early.
  std::optional<SecretKey> key;
  if (o.apop) {
    auto k = load_key_file(cfg.secret_key_path());
    if (!k) return fail(k.error());
    key = *k;
  }
  auto pw = read_new_password(o.password_stdin);
  if (!pw) return fail(pw.error());
  Credentials c;
  auto h = hash_password(*pw);
  if (h) {
    c.hash = *h;
    if (key) {
      auto s = sealed::seal(*key, *pw, address);
      if (s)
        c.apop_sealed = *s;
      else
        h = fail(s.error());
    }
  }
  OPENSSL_cleanse(pw->data(), pw->size());
  if (!h) return fail(h.error());
  return c;
}

int run_add(const CliContext& ctx, const UserOptions& o) {
  if (!o.hash.empty() && o.apop) return report("--hash cannot be combined with --apop");
  if (!o.hash.empty() && o.password_stdin)
    return report("--hash cannot be combined with --password-stdin");
  auto parts = address_rules::check_address(o.address);
  if (!parts) return report(parts.error());
  const std::string address = parts->address();
  return with_directory(ctx, [&](const Config& cfg, SqliteDirectory& dir) {
    // Check what we can before asking for a password.
    auto local = dir.is_local_domain(parts->domain);
    if (!local) return report(local.error());
    if (!*local) return report("no such domain: " + parts->domain + " (tegami domain add first)");
    auto existing = dir.find_account(address);
    if (!existing) return report(existing.error());
    if (*existing) return report("user " + address + " already exists");

    auto cred = make_credentials(cfg, o, address);
    if (!cred) return report(cred.error());
    auto r = dir.add_user(address, cred->hash, cred->apop_sealed);
    return r ? kExitOk : report(r.error());
  });
}

int run_passwd(const CliContext& ctx, const UserOptions& o) {
  auto parts = address_rules::split_address(o.address);
  if (!parts) return report("not an address: " + o.address);
  const std::string address = parts->address();
  return with_directory(ctx, [&](const Config& cfg, SqliteDirectory& dir) {
    auto existing = dir.find_account(address);
    if (!existing) return report(existing.error());
    if (!*existing) return report("no such user: " + address);
    auto cred = make_credentials(cfg, o, address);
    if (!cred) return report(cred.error());
    auto r = dir.set_password(address, cred->hash, cred->apop_sealed);
    if (!r) return report(r.error());
    if ((*existing)->apop_sealed && !o.apop)
      std::cerr << "tegami: note: the APOP secret of " << address
                << " was removed (use --apop to set a new one)\n";
    return kExitOk;
  });
}

int run_del(const CliContext& ctx, const UserOptions& o) {
  return with_directory(ctx, [&](const Config&, SqliteDirectory& dir) {
    auto r = dir.del_user(o.address);
    return r ? kExitOk : report(r.error());
  });
}

int run_list(const CliContext& ctx) {
  return with_directory(ctx, [&](const Config&, SqliteDirectory& dir) {
    auto users = dir.list_users();
    if (!users) return report(users.error());
    for (const auto& u : *users) std::cout << u.address << (u.apop_sealed ? "\tapop\n" : "\n");
    return kExitOk;
  });
}

}  // namespace

void add_user_command(CLI::App& app, CliContext& ctx) {
  auto* sub = app.add_subcommand("user", "manage accounts");
  sub->require_subcommand(1);

  auto add_opts = std::make_shared<UserOptions>();
  auto* add = sub->add_subcommand("add", "add an account");
  add->add_option("ADDR", add_opts->address, "address (local@domain)")->required();
  add->add_flag("--password-stdin", add_opts->password_stdin,
                "read the password from the first line of stdin");
  add->add_flag("--apop", add_opts->apop, "also store a sealed APOP secret (the same password)");
  add->add_option("--hash", add_opts->hash, "import an existing crypt(3) hash");
  add->callback([&ctx, add_opts] { ctx.exit_code = run_add(ctx, *add_opts); });

  auto pw_opts = std::make_shared<UserOptions>();
  auto* passwd = sub->add_subcommand("passwd", "set an account's password");
  passwd->add_option("ADDR", pw_opts->address, "address")->required();
  passwd->add_flag("--password-stdin", pw_opts->password_stdin,
                   "read the password from the first line of stdin");
  passwd->add_flag("--apop", pw_opts->apop, "also store a sealed APOP secret (the same password)");
  passwd->callback([&ctx, pw_opts] { ctx.exit_code = run_passwd(ctx, *pw_opts); });

  auto del_opts = std::make_shared<UserOptions>();
  auto* del = sub->add_subcommand("del", "delete an account (its Maildir is kept)");
  del->add_option("ADDR", del_opts->address, "address")->required();
  del->callback([&ctx, del_opts] { ctx.exit_code = run_del(ctx, *del_opts); });

  auto* list = sub->add_subcommand("list", "list accounts, one per line");
  list->callback([&ctx] { ctx.exit_code = run_list(ctx); });
}

}  // namespace tegami::cli
