// SqliteDb: the one SQLite connection behind the directory and the grant
// store (data_dir/directory.sqlite), with its schema migrations.
//
// Concurrency: one sqlite3* guarded by one mutex. Every public call of the
// stores takes the lock for its whole duration (including its transaction),
// so the stores are safe to call from any number of worker threads; calls
// are short (indexed point lookups), so one connection does not limit us.
// Other processes (the admin CLI while the server runs) are handled by
// SQLite's own file locking: WAL mode lets readers run during a write, and
// busy_timeout makes a writer wait instead of failing at once.
//
// Schema: versioned with PRAGMA user_version. Migrations are an ordered list
// of SQL steps; at open, every step newer than the file's version runs in
// one IMMEDIATE transaction together with the version bump, so a crash
// leaves the old version intact and an upgrade never loses data. A file
// newer than this binary is refused (never downgraded).
//
// Statements: all data goes through prepared statements with bound
// parameters (never string formatting); prepared statements are cached.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tegami {

// A cached prepared statement, borrowed while the SqliteDb lock is held.
// Its bindings and cursor are reset when the Stmt is destroyed.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  Stmt& bind(int index, std::string_view text);
  Stmt& bind(int index, std::int64_t value);
  Stmt& bind_null(int index);

  // true: a row is available; false: done. Temporary Error on failure.
  Result<bool> step();
  // Runs to completion (for INSERT/UPDATE/DELETE).
  Result<void> run();

  std::string text(int col) const;
  std::int64_t int64(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3_stmt* s_;
};

class SqliteDb {
 public:
  // The schema version this binary writes (see the migrations in sqlite_db.cpp).
  static constexpr int kSchemaVersion = 2;
  static constexpr int kBusyTimeoutMs = 5000;

  struct Options {
    bool create = true;  // false: a missing file is an error (for `check`)
  };

  // Opens (creating if allowed), sets WAL/busy_timeout/foreign_keys, migrates.
  static Result<std::shared_ptr<SqliteDb>> open(const std::string& path, Options options);
  static Result<std::shared_ptr<SqliteDb>> open(const std::string& path) {
    return open(path, Options{});
  }

  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  // Hold this while using prepare()/exec()/Transaction.
  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mu_); }

  // Requires the lock. A cached statement for `sql` (a constant string).
  Result<Stmt> prepare(const char* sql);
  // Requires the lock. Runs constant SQL without parameters (DDL, BEGIN, COMMIT).
  Result<void> exec(const char* sql);
  // Requires the lock. Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t changes() const;

  // The file's schema version after open (== kSchemaVersion).
  int schema_version() const { return version_; }
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Result<void> migrate();
  Result<int> read_user_version();
  Error sql_error(const std::string& what) const;

  std::mutex mu_;
  sqlite3* db_;
  std::string path_;
  int version_ = 0;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

// RAII write transaction (BEGIN IMMEDIATE): rolls back unless commit() ran.
// Requires the SqliteDb lock for its whole life.
class Transaction {
 public:
  explicit Transaction(SqliteDb& db) : db_(db) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  Result<void> begin();
  Result<void> commit();

 private:
  SqliteDb& db_;
  bool open_ = false;
};

}  // namespace tegami
