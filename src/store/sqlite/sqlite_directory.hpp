// SqliteDirectory: the Directory (store/directory.hpp) on SQLite, in
// data_dir/directory.sqlite. Schema, migrations and locking: sqlite_db.hpp
// and docs/storage.md.
//
// Names are validated on add (store/sqlite/address_rules.hpp) and stored in
// lower case; lookups lower-case their argument, so everything is
// case-insensitive. An address is either an account or an alias, never both.
//
// resolve() (RFC 5321 §3.6.1 local aliases): an account resolves to its
// mailbox; an alias to the union of what its targets resolve to (an alias
// may have several rows = several targets), followed at most kMaxAliasDepth
// levels deep, each address visited once (loops are harmless), the mailboxes
// deduplicated in first-found order. Targets in non-local domains are
// ignored for now (forwarding to remote addresses is not implemented yet);
// an alias that yields no local mailbox resolves to Unknown, so mail to it
// is refused rather than silently dropped.
//
// postmaster (RFC 5321 §4.5.1): nothing is created implicitly; operators
// create an account or an alias `postmaster@DOMAIN` for each domain
// (docs/storage.md says so, `domain add` reminds them).
//
// Thread safety: every method locks the shared SqliteDb for its duration.
#pragma once

#include <memory>

#include "store/directory.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace tegami {

class SqliteDirectory final : public Directory {
 public:
  static constexpr int kMaxAliasDepth = 8;

  explicit SqliteDirectory(std::shared_ptr<SqliteDb> db) : db_(std::move(db)) {}

  // Opens (creating and migrating if needed) data_dir/directory.sqlite.
  static Result<std::unique_ptr<SqliteDirectory>> open(const std::string& data_dir);

  Result<bool> is_local_domain(const std::string& domain) override;
  Result<std::optional<Account>> find_account(const std::string& address) override;
  Result<Resolution> resolve(const std::string& address) override;

  Result<void> add_domain(const std::string& domain) override;
  Result<void> del_domain(const std::string& domain) override;
  Result<std::vector<std::string>> list_domains() override;

  Result<void> add_user(const std::string& address, const std::string& password_hash,
                        const std::optional<std::string>& apop_sealed) override;
  Result<void> set_password(const std::string& address, const std::string& password_hash,
                            const std::optional<std::string>& apop_sealed) override;
  Result<void> del_user(const std::string& address) override;
  Result<std::vector<Account>> list_users() override;

  Result<void> add_alias(const std::string& alias, const std::string& target) override;
  Result<void> del_alias(const std::string& alias) override;
  Result<std::vector<Alias>> list_aliases() override;

  const std::shared_ptr<SqliteDb>& db() const { return db_; }

 private:
  // These require the db lock.
  Result<bool> domain_exists(const std::string& domain);
  Result<bool> account_exists(const std::string& address);
  Result<bool> alias_exists(const std::string& alias);
  Result<std::vector<std::string>> alias_targets(const std::string& alias);

  std::shared_ptr<SqliteDb> db_;
};

}  // namespace tegami
