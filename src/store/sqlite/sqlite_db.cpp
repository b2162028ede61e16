#include "store/sqlite/sqlite_db.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

namespace tegami {

namespace {

// The schema history. Never edit a step once released: add a new one.
// Step N takes a database at version N-1 to version N.
struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE domains (
  name    TEXT PRIMARY KEY NOT NULL CHECK (name = lower(name)),
  created INTEGER NOT NULL
);
CREATE TABLE accounts (
  address       TEXT PRIMARY KEY NOT NULL CHECK (address = lower(address)),
  domain        TEXT NOT NULL REFERENCES domains(name),
  local         TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  apop_sealed   TEXT,
  created       INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain);
CREATE TABLE aliases (
  alias  TEXT NOT NULL CHECK (alias = lower(alias)),
  target TEXT NOT NULL CHECK (target = lower(target)),
  PRIMARY KEY (alias, target)
);
)sql"},
    // POP-before-SMTP grants (one row per client IP).
    {2, R"sql(
CREATE TABLE grants (
  ip      TEXT PRIMARY KEY NOT NULL,
  account TEXT NOT NULL,
  expires INTEGER NOT NULL
);
CREATE INDEX grants_expires ON grants(expires);
)sql"},
};

static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == SqliteDb::kSchemaVersion,
              "kSchemaVersion must equal the number of migration steps");

}  // namespace

// ---- Stmt ----

Stmt::~Stmt() {
  if (s_) {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
}

Stmt& Stmt::bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies, so temporaries are safe to pass.
  sqlite3_bind_text(s_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(s_, index, value);
  return *this;
}

Stmt& Stmt::bind_null(int index) {
  sqlite3_bind_null(s_, index);
  return *this;
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return fail(
      Error::temp(fmt::format("directory database: {}", sqlite3_errmsg(sqlite3_db_handle(s_)))));
}

Result<void> Stmt::run() {
  for (;;) {
    auto r = step();
    if (!r) return fail(r.error());
    if (!*r) return {};
  }
}

std::string Stmt::text(int col) const {
  const auto* p = sqlite3_column_text(s_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(s_, col)));
}

std::int64_t Stmt::int64(int col) const {
  return sqlite3_column_int64(s_, col);
}

bool Stmt::is_null(int col) const {
  return sqlite3_column_type(s_, col) == SQLITE_NULL;
}

// ---- SqliteDb ----

Result<std::shared_ptr<SqliteDb>> SqliteDb::open(const std::string& path, Options options) {
  if (options.create) {
    // The file holds password hashes: create it 0600 ourselves (SQLite would
    // use 0644 minus umask); its -wal and -shm files inherit the mode. An
    // empty file is a valid new database to SQLite.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) ::close(fd);
  }
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;  // we serialise with our own mutex
  if (options.create) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return fail(Error::temp(fmt::format("cannot open {}: {}", path, msg)));
  }
  std::shared_ptr<SqliteDb> db(new SqliteDb(raw, path));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);

  auto guard = db->lock();
  // WAL: readers never block the writer (the CLI can add a user while the
  // server reads). synchronous=FULL: a committed admin change survives a
  // power cut; the directory is written rarely, so the cost does not matter.
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (auto r = db->exec(pragma); !r) return fail(r.error());
  }
  if (auto r = db->migrate(); !r) return fail(r.error());
  return db;
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Error SqliteDb::sql_error(const std::string& what) const {
  return Error::temp(
      fmt::format("directory database {}: {}: {}", path_, what, sqlite3_errmsg(db_)));
}

Result<Stmt> SqliteDb::prepare(const char* sql) {
  auto it = cache_.find(std::string_view(sql));
  if (it != cache_.end()) return Stmt(it->second);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
    return fail(sql_error("prepare"));
  cache_.emplace(sql, s);
  return Stmt(s);
}

Result<void> SqliteDb::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return fail(Error::temp(fmt::format("directory database {}: {}", path_, msg)));
  }
  return {};
}

std::int64_t SqliteDb::changes() const {
  return sqlite3_changes64(db_);
}

Result<int> SqliteDb::read_user_version() {
  auto st = prepare("PRAGMA user_version");
  if (!st) return fail(st.error());
  auto row = st->step();
  if (!row) return fail(row.error());
  if (!*row) return fail(sql_error("no user_version"));
  return static_cast<int>(st->int64(0));
}

Result<void> SqliteDb::migrate() {
  auto v = read_user_version();
  if (!v) return fail(v.error());
  if (*v > kSchemaVersion)
    return fail(Error::perm(fmt::format(
        "{} has schema version {}, newer than this tegami understands ({}); refusing to use it",
        path_, *v, kSchemaVersion)));
  if (*v < kSchemaVersion) {
    Transaction tx(*this);
    if (auto r = tx.begin(); !r) return r;
    // Another process may have migrated while we waited for the write lock.
    v = read_user_version();
    if (!v) return fail(v.error());
    for (const auto& m : kMigrations) {
      if (m.version <= *v) continue;
      if (auto r = exec(m.sql); !r)
        return fail(Error::temp(fmt::format("migration to schema version {} failed: {}", m.version,
                                            r.error().message)));
    }
    // PRAGMA takes no bound parameters; the value is our own constant.
    std::string bump = fmt::format("PRAGMA user_version = {}", kSchemaVersion);
    if (auto r = exec(bump.c_str()); !r) return r;
    if (auto r = tx.commit(); !r) return r;
  }
  version_ = kSchemaVersion;
  return {};
}

// ---- Transaction ----

Result<void> Transaction::begin() {
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return r;
  open_ = true;
  return {};
}

Result<void> Transaction::commit() {
  if (auto r = db_.exec("COMMIT"); !r) return r;
  open_ = false;
  return {};
}

Transaction::~Transaction() {
  if (open_) (void)db_.exec("ROLLBACK");
}

}  // namespace tegami
