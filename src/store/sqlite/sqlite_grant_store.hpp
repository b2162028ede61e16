// SqliteGrantStore: GrantStore (store/grant_store.hpp) in the `grants` table
// of data_dir/directory.sqlite, sharing the directory's SqliteDb (one
// connection, one mutex; see sqlite_db.hpp). Expiry times are stored as Unix
// seconds (rounded down).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "store/grant_store.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace tegami {

// Canonical text of an IP address (inet_ntop form; an IPv4-mapped IPv6
// address becomes its IPv4 address), or nullopt when `ip` is not one.
std::optional<std::string> canonical_ip(const std::string& ip);

class SqliteGrantStore final : public GrantStore {
 public:
  explicit SqliteGrantStore(std::shared_ptr<SqliteDb> db) : db_(std::move(db)) {}

  Result<void> record(const std::string& ip, const std::string& account,
                      TimePoint expires) override;
  Result<std::optional<Grant>> find(const std::string& ip, TimePoint now) override;
  Result<std::vector<Grant>> list(TimePoint now) override;
  Result<std::size_t> purge(TimePoint now) override;

 private:
  std::shared_ptr<SqliteDb> db_;
};

}  // namespace tegami
