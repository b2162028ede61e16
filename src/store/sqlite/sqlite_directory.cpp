#include "store/sqlite/sqlite_directory.hpp"

#include <algorithm>
#include <ctime>
#include <functional>
#include <set>

#include "auth/password.hpp"
#include "core/log.hpp"
#include "store/sqlite/address_rules.hpp"

namespace tegami {

namespace ar = address_rules;

namespace {

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

Error conflict(const std::string& what) {
  return Error::perm(what, 550, "5.0.0");
}

}  // namespace

Result<std::unique_ptr<SqliteDirectory>> SqliteDirectory::open(const std::string& data_dir) {
  auto db = SqliteDb::open(data_dir + "/directory.sqlite");
  if (!db) return fail(db.error());
  return std::make_unique<SqliteDirectory>(std::move(*db));
}

// ---- helpers (lock held) ----

Result<bool> SqliteDirectory::domain_exists(const std::string& domain) {
  auto st = db_->prepare("SELECT 1 FROM domains WHERE name = ?1");
  if (!st) return fail(st.error());
  st->bind(1, domain);
  return st->step();
}

Result<bool> SqliteDirectory::account_exists(const std::string& address) {
  auto st = db_->prepare("SELECT 1 FROM accounts WHERE address = ?1");
  if (!st) return fail(st.error());
  st->bind(1, address);
  return st->step();
}

Result<bool> SqliteDirectory::alias_exists(const std::string& alias) {
  auto st = db_->prepare("SELECT 1 FROM aliases WHERE alias = ?1 LIMIT 1");
  if (!st) return fail(st.error());
  st->bind(1, alias);
  return st->step();
}

Result<std::vector<std::string>> SqliteDirectory::alias_targets(const std::string& alias) {
  auto st = db_->prepare("SELECT target FROM aliases WHERE alias = ?1 ORDER BY rowid");
  if (!st) return fail(st.error());
  st->bind(1, alias);
  std::vector<std::string> out;
  for (;;) {
    auto row = st->step();
    if (!row) return fail(row.error());
    if (!*row) break;
    out.push_back(st->text(0));
  }
  return out;
}

// ---- lookups ----

Result<bool> SqliteDirectory::is_local_domain(const std::string& domain) {
  auto guard = db_->lock();
  return domain_exists(ar::normalize_domain(domain));
}

Result<std::optional<Account>> SqliteDirectory::find_account(const std::string& address) {
  auto parts = ar::split_address(address);
  if (!parts) return std::optional<Account>();
  auto guard = db_->lock();
  auto st = db_->prepare(
      "SELECT address, domain, local, password_hash, apop_sealed FROM accounts WHERE address = ?1");
  if (!st) return fail(st.error());
  st->bind(1, parts->address());
  auto row = st->step();
  if (!row) return fail(row.error());
  if (!*row) return std::optional<Account>();
  Account a;
  a.address = st->text(0);
  a.mailbox = MailboxRef{st->text(1), st->text(2)};
  a.password_hash = st->text(3);
  if (!st->is_null(4)) a.apop_sealed = st->text(4);
  return std::optional<Account>(std::move(a));
}

Result<Resolution> SqliteDirectory::resolve(const std::string& address) {
  auto parts = ar::split_address(address);
  if (!parts) return fail(Error::perm("not an address: '" + log_safe(address) + "'", 553, "5.1.3"));

  auto guard = db_->lock();
  auto local = domain_exists(parts->domain);
  if (!local) return fail(local.error());
  Resolution res;
  if (!*local) {
    res.kind = Resolution::Kind::NotLocal;
    return res;
  }

  std::set<std::string> visited;
  std::optional<Error> error;
  // Depth-first, targets in the order they were added, so the result is stable.
  std::function<void(const std::string&, int)> visit = [&](const std::string& addr, int depth) {
    if (error || !visited.insert(addr).second) return;
    auto p = ar::split_address(addr);
    if (!p) return;
    if (depth > 0) {
      auto is_local = domain_exists(p->domain);
      if (!is_local) return void(error = is_local.error());
      if (!*is_local) {
        // Remote alias targets (forwarding) are not implemented yet.
        spdlog::debug("alias target {} is not local: ignored", log_safe(addr));
        return;
      }
    }
    auto acct = account_exists(addr);
    if (!acct) return void(error = acct.error());
    if (*acct) {
      MailboxRef box{p->domain, p->local};
      if (std::find(res.mailboxes.begin(), res.mailboxes.end(), box) == res.mailboxes.end())
        res.mailboxes.push_back(std::move(box));
      return;
    }
    auto targets = alias_targets(addr);
    if (!targets) return void(error = targets.error());
    if (!targets->empty() && depth >= kMaxAliasDepth) {
      spdlog::warn("alias {} nested deeper than {} levels: not followed", log_safe(addr),
                   kMaxAliasDepth);
      return;
    }
    for (const auto& t : *targets) visit(t, depth + 1);
  };
  visit(parts->address(), 0);
  if (error) return fail(*error);
  res.kind = res.mailboxes.empty() ? Resolution::Kind::Unknown : Resolution::Kind::Local;
  return res;
}

// ---- domains ----

Result<void> SqliteDirectory::add_domain(const std::string& domain) {
  auto d = ar::check_domain(domain);
  if (!d) return fail(d.error());
  auto guard = db_->lock();
  Transaction tx(*db_);
  if (auto r = tx.begin(); !r) return r;
  auto exists = domain_exists(*d);
  if (!exists) return fail(exists.error());
  if (*exists) return fail(conflict("domain " + *d + " already exists"));
  auto st = db_->prepare("INSERT INTO domains (name, created) VALUES (?1, ?2)");
  if (!st) return fail(st.error());
  if (auto r = st->bind(1, *d).bind(2, unix_now()).run(); !r) return r;
  return tx.commit();
}

Result<void> SqliteDirectory::del_domain(const std::string& domain) {
  std::string d = ar::normalize_domain(domain);
  auto guard = db_->lock();
  Transaction tx(*db_);
  if (auto r = tx.begin(); !r) return r;
  auto exists = domain_exists(d);
  if (!exists) return fail(exists.error());
  if (!*exists) return fail(Error::perm("no such domain: " + log_safe(d)));
  auto users = db_->prepare("SELECT count(*) FROM accounts WHERE domain = ?1");
  if (!users) return fail(users.error());
  users->bind(1, d);
  if (auto row = users->step(); !row) return fail(row.error());
  std::int64_t n_users = users->int64(0);
  auto aliases =
      db_->prepare("SELECT count(*) FROM aliases WHERE substr(alias, instr(alias, '@') + 1) = ?1");
  if (!aliases) return fail(aliases.error());
  aliases->bind(1, d);
  if (auto row = aliases->step(); !row) return fail(row.error());
  std::int64_t n_aliases = aliases->int64(0);
  if (n_users > 0 || n_aliases > 0)
    return fail(conflict(
        fmt::format("domain {} still has {} user(s) and {} alias row(s)", d, n_users, n_aliases)));
  auto st = db_->prepare("DELETE FROM domains WHERE name = ?1");
  if (!st) return fail(st.error());
  if (auto r = st->bind(1, d).run(); !r) return r;
  return tx.commit();
}

Result<std::vector<std::string>> SqliteDirectory::list_domains() {
  auto guard = db_->lock();
  auto st = db_->prepare("SELECT name FROM domains ORDER BY name");
  if (!st) return fail(st.error());
  std::vector<std::string> out;
  for (;;) {
    auto row = st->step();
    if (!row) return fail(row.error());
    if (!*row) return out;
    out.push_back(st->text(0));
  }
}

// ---- users ----

Result<void> SqliteDirectory::add_user(const std::string& address, const std::string& password_hash,
                                       const std::optional<std::string>& apop_sealed) {
  auto a = ar::check_address(address);
  if (!a) return fail(a.error());
  if (!has_supported_form(password_hash))
    return fail(Error::perm("unsupported password hash (want $y$, $6$, $5$ or $2b$)"));
  auto guard = db_->lock();
  Transaction tx(*db_);
  if (auto r = tx.begin(); !r) return r;
  auto dom = domain_exists(a->domain);
  if (!dom) return fail(dom.error());
  if (!*dom) return fail(Error::perm("no such domain: " + a->domain + " (add it first)"));
  auto acct = account_exists(a->address());
  if (!acct) return fail(acct.error());
  if (*acct) return fail(conflict("user " + a->address() + " already exists"));
  auto al = alias_exists(a->address());
  if (!al) return fail(al.error());
  if (*al) return fail(conflict(a->address() + " is already an alias"));
  auto st = db_->prepare(
      "INSERT INTO accounts (address, domain, local, password_hash, apop_sealed, created) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st) return fail(st.error());
  st->bind(1, a->address()).bind(2, a->domain).bind(3, a->local).bind(4, password_hash);
  if (apop_sealed)
    st->bind(5, *apop_sealed);
  else
    st->bind_null(5);
  if (auto r = st->bind(6, unix_now()).run(); !r) return r;
  return tx.commit();
}

Result<void> SqliteDirectory::set_password(const std::string& address,
                                           const std::string& password_hash,
                                           const std::optional<std::string>& apop_sealed) {
  auto parts = ar::split_address(address);
  if (!parts) return fail(Error::perm("not an address: '" + log_safe(address) + "'"));
  if (!has_supported_form(password_hash))
    return fail(Error::perm("unsupported password hash (want $y$, $6$, $5$ or $2b$)"));
  auto guard = db_->lock();
  Transaction tx(*db_);
  if (auto r = tx.begin(); !r) return r;
  auto st =
      db_->prepare("UPDATE accounts SET password_hash = ?2, apop_sealed = ?3 WHERE address = ?1");
  if (!st) return fail(st.error());
  st->bind(1, parts->address()).bind(2, password_hash);
  if (apop_sealed)
    st->bind(3, *apop_sealed);
  else
    st->bind_null(3);
  if (auto r = st->run(); !r) return r;
  if (db_->changes() == 0) return fail(Error::perm("no such user: " + parts->address()));
  return tx.commit();
}

Result<void> SqliteDirectory::del_user(const std::string& address) {
  auto parts = ar::split_address(address);
  if (!parts) return fail(Error::perm("not an address: '" + log_safe(address) + "'"));
  auto guard = db_->lock();
  Transaction tx(*db_);
  if (auto r = tx.begin(); !r) return r;
  auto st = db_->prepare("DELETE FROM accounts WHERE address = ?1");
  if (!st) return fail(st.error());
  if (auto r = st->bind(1, parts->address()).run(); !r) return r;
  if (db_->changes() == 0) return fail(Error::perm("no such user: " + parts->address()));
  return tx.commit();
}

Result<std::vector<Account>> SqliteDirectory::list_users() {
  auto guard = db_->lock();
  auto st = db_->prepare(
      "SELECT address, domain, local, password_hash, apop_sealed FROM accounts "
      "ORDER BY domain, local");
  if (!st) return fail(st.error());
  std::vector<Account> out;
  for (;;) {
    auto row = st->step();
    if (!row) return fail(row.error());
    if (!*row) return out;
    Account a;
    a.address = st->text(0);
    a.mailbox = MailboxRef{st->text(1), st->text(2)};
    a.password_hash = st->text(3);
    if (!st->is_null(4)) a.apop_sealed = st->text(4);
    out.push_back(std::move(a));
  }
}

// ---- aliases ----

Result<void> SqliteDirectory::add_alias(const std::string& alias, const std::string& target) {
  auto a = ar::check_address(alias);
  if (!a) return fail(a.error());
  auto t = ar::check_address(target);
  if (!t) return fail(t.error());
  if (a->address() == t->address()) return fail(Error::perm("an alias cannot point to itself"));
  auto guard = db_->lock();
  Transaction tx(*db_);
  if (auto r = tx.begin(); !r) return r;
  auto dom = domain_exists(a->domain);
  if (!dom) return fail(dom.error());
  if (!*dom) return fail(Error::perm("no such domain: " + a->domain + " (add it first)"));
  auto acct = account_exists(a->address());
  if (!acct) return fail(acct.error());
  if (*acct) return fail(conflict(a->address() + " is already a user"));
  auto dup = db_->prepare("SELECT 1 FROM aliases WHERE alias = ?1 AND target = ?2");
  if (!dup) return fail(dup.error());
  dup->bind(1, a->address()).bind(2, t->address());
  auto row = dup->step();
  if (!row) return fail(row.error());
  if (*row)
    return fail(conflict("alias " + a->address() + " -> " + t->address() + " already exists"));
  auto st = db_->prepare("INSERT INTO aliases (alias, target) VALUES (?1, ?2)");
  if (!st) return fail(st.error());
  if (auto r = st->bind(1, a->address()).bind(2, t->address()).run(); !r) return r;
  return tx.commit();
}

Result<void> SqliteDirectory::del_alias(const std::string& alias) {
  auto parts = ar::split_address(alias);
  if (!parts) return fail(Error::perm("not an address: '" + log_safe(alias) + "'"));
  auto guard = db_->lock();
  Transaction tx(*db_);
  if (auto r = tx.begin(); !r) return r;
  auto st = db_->prepare("DELETE FROM aliases WHERE alias = ?1");
  if (!st) return fail(st.error());
  if (auto r = st->bind(1, parts->address()).run(); !r) return r;
  if (db_->changes() == 0) return fail(Error::perm("no such alias: " + parts->address()));
  return tx.commit();
}

Result<std::vector<Alias>> SqliteDirectory::list_aliases() {
  auto guard = db_->lock();
  auto st = db_->prepare("SELECT alias, target FROM aliases ORDER BY alias, rowid");
  if (!st) return fail(st.error());
  std::vector<Alias> out;
  for (;;) {
    auto row = st->step();
    if (!row) return fail(row.error());
    if (!*row) return out;
    out.push_back(Alias{st->text(0), st->text(1)});
  }
}

}  // namespace tegami
