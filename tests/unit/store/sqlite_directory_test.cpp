#include "store/sqlite/sqlite_directory.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <thread>

#include "auth/password.hpp"
#include "store/sqlite/address_rules.hpp"
#include "temp_dir.hpp"

namespace tegami {
namespace {

using testing::TempDir;
using Kind = Resolution::Kind;

const std::string& a_hash() {
  static const std::string h = *hash_password("secret");
  return h;
}

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = SqliteDirectory::open(tmp_.path());
    ASSERT_TRUE(d) << d.error().message;
    dir_ = std::move(*d);
  }
  void add_domain(const std::string& d) { ASSERT_TRUE(dir_->add_domain(d)) << d; }
  void add_user(const std::string& a) {
    auto r = dir_->add_user(a, a_hash(), std::nullopt);
    ASSERT_TRUE(r) << a << ": " << r.error().message;
  }
  void add_alias(const std::string& a, const std::string& t) {
    auto r = dir_->add_alias(a, t);
    ASSERT_TRUE(r) << a << " -> " << t << ": " << r.error().message;
  }
  std::vector<std::string> boxes(const std::string& address) {
    auto r = dir_->resolve(address);
    EXPECT_TRUE(r) << address;
    std::vector<std::string> out;
    if (r)
      for (const auto& b : r->mailboxes) out.push_back(b.address());
    return out;
  }
  Kind kind(const std::string& address) {
    auto r = dir_->resolve(address);
    EXPECT_TRUE(r) << address;
    return r ? r->kind : Kind::NotLocal;
  }

  TempDir tmp_;
  std::unique_ptr<SqliteDirectory> dir_;
};

TEST(AddressRules, Table) {
  struct Case {
    std::string in;
    bool ok;
    std::string normal;
  };
  const Case cases[] = {
      {"Alice@Example.TEST", true, "alice@example.test"},
      {"alice@example.test.", true, "alice@example.test"},
      {"first.last+tag@sub.example.test", true, "first.last+tag@sub.example.test"},
      {"o'brien@example.test", true, "o'brien@example.test"},
      {"a@localhost", true, "a@localhost"},
      {std::string(64, 'a') + "@example.test", true, std::string(64, 'a') + "@example.test"},
      {std::string(65, 'a') + "@example.test", false, ""},
      {"a@" + std::string(63, 'b') + ".test", true, "a@" + std::string(63, 'b') + ".test"},
      {"a@" + std::string(64, 'b') + ".test", false, ""},
      {"a@" + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd') + "." +
           std::string(64, 'e'),
       false, ""},  // 256 octets
      {"alice", false, ""},
      {"@example.test", false, ""},
      {"alice@", false, ""},
      {"al ice@example.test", false, ""},
      {"al\tice@example.test", false, ""},
      {"al/ice@example.test", false, ""},
      {"..@example.test", false, ""},
      {".alice@example.test", false, ""},
      {"alice.@example.test", false, ""},
      {"al..ice@example.test", false, ""},
      {"\"alice\"@example.test", false, ""},
      // RFC 6531/6532: UTF-8 local parts (stored NFC), U-label domains (stored
      // as A-labels); malformed UTF-8 and C1 controls are refused.
      {"Al\xc3\xa9@example.test", true, "al\xc3\xa9@example.test"},
      {"ale\xcc\x81@example.test", true, "al\xc3\xa9@example.test"},
      {"user@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", true,
       "user@xn--r8jz45g.xn--zckzah"},
      {"user@XN--R8JZ45G.xn--zckzah", true, "user@xn--r8jz45g.xn--zckzah"},
      {"user@xn--zz.test", false, ""},
      {"al\xc0\xaf@example.test", false, ""},
      {"al\xc2\x85@example.test", false, ""},
      {"al\xe3\x81@example.test", false, ""},
      {"a@b@example.test", false, ""},
      {"alice@exa_mple.test", false, ""},
      {"alice@-example.test", false, ""},
      {"alice@example-.test", false, ""},
      {"alice@example..test", false, ""},
      {"alice@[127.0.0.1]", false, ""},
      {std::string("ali\0ce@example.test", 19), false, ""},
  };
  for (const auto& c : cases) {
    auto r = address_rules::check_address(c.in);
    EXPECT_EQ(bool(r), c.ok) << "'" << c.in << "'";
    if (r && c.ok) {
      EXPECT_EQ(r->address(), c.normal);
    }
    if (!r) {
      EXPECT_FALSE(r.error().temporary);
    }
  }
}

TEST_F(DirectoryTest, InternationalisedNamesAreOneKey) {
  // The U-label and A-label spellings of a domain are one domain; a local
  // part matches in NFC whatever form the lookup uses.
  add_domain("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88");
  EXPECT_FALSE(dir_->add_domain("xn--r8jz45g.xn--zckzah"));  // the same domain
  EXPECT_EQ(*dir_->list_domains(), (std::vector<std::string>{"xn--r8jz45g.xn--zckzah"}));
  EXPECT_TRUE(
      *dir_->is_local_domain("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"));
  add_user("caf\x65\xcc\x81@xn--r8jz45g.xn--zckzah");  // decomposed: stored NFC
  EXPECT_FALSE(
      dir_->add_user("CAF\xc3\xa9@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
                     a_hash(), std::nullopt));  // duplicate
  auto a = dir_->find_account(
      "caf\xc3\xa9@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88");
  ASSERT_TRUE(a && a->has_value());
  EXPECT_EQ((*a)->address, "caf\xc3\xa9@xn--r8jz45g.xn--zckzah");
  EXPECT_EQ((*a)->mailbox, (MailboxRef{"xn--r8jz45g.xn--zckzah", "caf\xc3\xa9"}));
  auto r = dir_->resolve("Caf\x65\xcc\x81@XN--R8JZ45G.xn--zckzah");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Resolution::Kind::Local);
}

TEST_F(DirectoryTest, DomainsCrud) {
  add_domain("Example.TEST");
  add_domain("other.test.");
  EXPECT_FALSE(dir_->add_domain("example.test"));  // duplicate, any case
  EXPECT_FALSE(dir_->add_domain("EXAMPLE.test"));
  EXPECT_FALSE(dir_->add_domain("bad domain"));
  EXPECT_FALSE(dir_->add_domain(""));
  EXPECT_EQ(*dir_->list_domains(), (std::vector<std::string>{"example.test", "other.test"}));
  EXPECT_TRUE(*dir_->is_local_domain("EXAMPLE.test"));
  EXPECT_TRUE(*dir_->is_local_domain("example.test."));
  EXPECT_FALSE(*dir_->is_local_domain("example.net"));

  add_user("a@other.test");
  auto busy = dir_->del_domain("other.test");
  ASSERT_FALSE(busy);
  EXPECT_FALSE(busy.error().temporary);
  ASSERT_TRUE(dir_->del_user("a@other.test"));
  add_alias("x@other.test", "a@example.test");
  EXPECT_FALSE(dir_->del_domain("other.test"));  // an alias remains
  ASSERT_TRUE(dir_->del_alias("x@other.test"));
  EXPECT_TRUE(dir_->del_domain("OTHER.test"));
  EXPECT_FALSE(dir_->del_domain("other.test"));  // gone
  EXPECT_EQ(*dir_->list_domains(), (std::vector<std::string>{"example.test"}));
}

TEST_F(DirectoryTest, UsersCrud) {
  add_domain("example.test");
  auto h = a_hash();
  ASSERT_TRUE(dir_->add_user("Alice@Example.Test", h, std::string("sealed-blob")));
  add_user("bob@example.test");
  // Duplicates in any case, unknown domains, bad addresses, bad hashes.
  EXPECT_FALSE(dir_->add_user("ALICE@example.test", h, std::nullopt));
  EXPECT_FALSE(dir_->add_user("carol@nowhere.test", h, std::nullopt));
  EXPECT_FALSE(dir_->add_user("carol", h, std::nullopt));
  EXPECT_FALSE(dir_->add_user("carol@example.test", "plaintext", std::nullopt));
  EXPECT_FALSE(dir_->add_user("carol@example.test", "!" + h, std::nullopt));

  auto a = dir_->find_account("ALICE@EXAMPLE.TEST");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->address, "alice@example.test");
  EXPECT_EQ((*a)->mailbox, (MailboxRef{"example.test", "alice"}));
  EXPECT_EQ((*a)->password_hash, h);
  EXPECT_EQ((*a)->apop_sealed, std::optional<std::string>("sealed-blob"));
  EXPECT_FALSE(dir_->find_account("carol@example.test")->has_value());
  EXPECT_FALSE(dir_->find_account("garbage")->has_value());

  auto h2 = *hash_password("other");
  ASSERT_TRUE(dir_->set_password("alice@EXAMPLE.test", h2, std::nullopt));
  a = dir_->find_account("alice@example.test");
  EXPECT_EQ((*a)->password_hash, h2);
  EXPECT_FALSE((*a)->apop_sealed.has_value());
  EXPECT_FALSE(dir_->set_password("carol@example.test", h2, std::nullopt));

  auto users = dir_->list_users();
  ASSERT_TRUE(users);
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].address, "alice@example.test");
  EXPECT_EQ((*users)[1].address, "bob@example.test");

  ASSERT_TRUE(dir_->del_user("BOB@example.test"));
  EXPECT_FALSE(dir_->del_user("bob@example.test"));
  EXPECT_EQ(dir_->list_users()->size(), 1u);
}

TEST_F(DirectoryTest, AliasesCrudAndConflicts) {
  add_domain("example.test");
  add_user("alice@example.test");
  add_alias("Sales@Example.test", "alice@example.test");
  add_alias("sales@example.test", "Partner@Example.NET");  // remote target is storable
  EXPECT_FALSE(dir_->add_alias("sales@example.test", "ALICE@example.test"));  // duplicate row
  EXPECT_FALSE(dir_->add_alias("alice@example.test", "bob@example.test"));    // is a user
  EXPECT_FALSE(dir_->add_alias("x@nowhere.test", "alice@example.test"));      // unknown domain
  EXPECT_FALSE(dir_->add_alias("x@example.test", "x@example.test"));          // itself
  EXPECT_FALSE(dir_->add_alias("x@example.test", "not an address"));
  EXPECT_FALSE(dir_->add_user("sales@example.test", a_hash(), std::nullopt));  // is an alias

  auto list = dir_->list_aliases();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].alias, "sales@example.test");
  EXPECT_EQ((*list)[0].target, "alice@example.test");
  EXPECT_EQ((*list)[1].target, "partner@example.net");

  ASSERT_TRUE(dir_->del_alias("SALES@example.test"));  // all rows
  EXPECT_TRUE(dir_->list_aliases()->empty());
  EXPECT_FALSE(dir_->del_alias("sales@example.test"));
}

TEST_F(DirectoryTest, ResolveTable) {
  add_domain("example.test");
  add_domain("second.test");
  for (auto u : {"alice@example.test", "bob@example.test", "carol@second.test"}) add_user(u);
  add_alias("postmaster@example.test", "alice@example.test");
  add_alias("team@example.test", "alice@example.test");
  add_alias("team@example.test", "bob@example.test");
  add_alias("team@example.test", "carol@second.test");
  add_alias("all@example.test", "team@example.test");  // fan-out with overlap: deduplicated
  add_alias("all@example.test", "bob@example.test");
  add_alias("all@example.test", "alice@example.test");
  add_alias("loop1@example.test", "loop2@example.test");  // a loop reaching a user
  add_alias("loop2@example.test", "loop1@example.test");
  add_alias("loop2@example.test", "bob@example.test");
  add_alias("spin@example.test", "spin2@example.test");  // a loop reaching nobody
  add_alias("spin2@example.test", "spin@example.test");
  add_alias("fwd@example.test", "someone@remote.test");  // remote only: not implemented yet
  add_alias("mixed@example.test", "someone@remote.test");
  add_alias("mixed@example.test", "carol@second.test");
  add_alias("dangling@example.test", "ghost@example.test");  // local target that does not exist

  struct Case {
    std::string address;
    Kind kind;
    std::vector<std::string> boxes;
  };
  const std::vector<Case> cases = {
      {"alice@example.test", Kind::Local, {"alice@example.test"}},
      {"ALICE@Example.Test", Kind::Local, {"alice@example.test"}},
      {"alice@example.test.", Kind::Local, {"alice@example.test"}},
      {"nobody@example.test", Kind::Unknown, {}},
      {"alice@remote.test", Kind::NotLocal, {}},
      {"postmaster@example.test", Kind::Local, {"alice@example.test"}},
      {"postmaster@second.test", Kind::Unknown, {}},  // operators must alias it (documented)
      {"team@example.test",
       Kind::Local,
       {"alice@example.test", "bob@example.test", "carol@second.test"}},
      {"all@example.test",
       Kind::Local,
       {"alice@example.test", "bob@example.test", "carol@second.test"}},
      {"loop1@example.test", Kind::Local, {"bob@example.test"}},
      {"spin@example.test", Kind::Unknown, {}},
      {"fwd@example.test", Kind::Unknown, {}},
      {"mixed@example.test", Kind::Local, {"carol@second.test"}},
      {"dangling@example.test", Kind::Unknown, {}},
  };
  for (const auto& c : cases) {
    auto r = dir_->resolve(c.address);
    ASSERT_TRUE(r) << c.address;
    EXPECT_EQ(r->kind, c.kind) << c.address;
    std::vector<std::string> got;
    for (const auto& b : r->mailboxes) got.push_back(b.address());
    EXPECT_EQ(got, c.boxes) << c.address;
  }
  auto bad = dir_->resolve("no-at-sign");
  ASSERT_FALSE(bad);
  EXPECT_FALSE(bad.error().temporary);
}

TEST_F(DirectoryTest, ResolveDepthLimit) {
  add_domain("example.test");
  add_user("end@example.test");
  // hN -> h(N+1) -> ... -> h8 -> end: the alias at depth d is followed while d < 8.
  for (int i = 0; i < 9; ++i)
    add_alias("h" + std::to_string(i) + "@example.test",
              i == 8 ? "end@example.test" : "h" + std::to_string(i + 1) + "@example.test");
  EXPECT_EQ(kind("h1@example.test"), Kind::Local);  // 8 expansions
  EXPECT_EQ(boxes("h1@example.test"), (std::vector<std::string>{"end@example.test"}));
  EXPECT_EQ(kind("h0@example.test"), Kind::Unknown);  // 9 expansions: too deep
}

TEST_F(DirectoryTest, ReopenKeepsDataAndSchemaVersion) {
  add_domain("example.test");
  add_user("alice@example.test");
  dir_.reset();
  auto d = SqliteDirectory::open(tmp_.path());
  ASSERT_TRUE(d);
  EXPECT_EQ((*d)->db()->schema_version(), SqliteDb::kSchemaVersion);
  EXPECT_EQ((*d)->list_users()->size(), 1u);
}

TEST_F(DirectoryTest, ConcurrentUse) {
  add_domain("example.test");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string a = "u" + std::to_string(t) + "x" + std::to_string(i) + "@example.test";
        if (!dir_->add_user(a, a_hash(), std::nullopt)) ++failures;
        auto r = dir_->resolve(a);
        if (!r || r->kind != Kind::Local) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(dir_->list_users()->size(), 100u);
}

// A database written by schema version 1 (no grants table), with data.
TEST(DirectoryMigration, FromVersion1KeepsData) {
  TempDir tmp;
  std::string path = tmp / "directory.sqlite";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    // Exactly the version-1 schema as released, plus rows.
    const char* v1 = R"sql(
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
INSERT INTO domains VALUES ('example.test', 1700000000);
INSERT INTO accounts VALUES ('alice@example.test', 'example.test', 'alice',
  '$6$saltsalt$abcdefghijklmnop', 'c2VhbGVk', 1700000000);
INSERT INTO aliases VALUES ('sales@example.test', 'alice@example.test');
PRAGMA user_version = 1;
)sql";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_close(db);
  }
  auto db = SqliteDb::open(path);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ((*db)->schema_version(), 2);
  SqliteDirectory dir(*db);
  auto a = dir.find_account("alice@example.test");
  ASSERT_TRUE(a && a->has_value());
  EXPECT_EQ((*a)->password_hash, "$6$saltsalt$abcdefghijklmnop");
  EXPECT_EQ((*a)->apop_sealed, std::optional<std::string>("c2VhbGVk"));
  auto r = dir.resolve("sales@example.test");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mailboxes, (std::vector<MailboxRef>{{"example.test", "alice"}}));
  // The new table works.
  {
    auto guard = (*db)->lock();
    auto st = (*db)->prepare("SELECT count(*) FROM grants");
    ASSERT_TRUE(st);
    ASSERT_TRUE(*st->step());
    EXPECT_EQ(st->int64(0), 0);
    auto v = (*db)->prepare("PRAGMA user_version");
    ASSERT_TRUE(v && *v->step());
    EXPECT_EQ(v->int64(0), 2);
  }
}

TEST(DirectoryMigration, RefusesNewerSchema) {
  TempDir tmp;
  std::string path = tmp / "directory.sqlite";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto d = SqliteDb::open(path);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("newer"), std::string::npos);
}

TEST(DirectoryMigration, NoCreateWhenAsked) {
  TempDir tmp;
  EXPECT_FALSE(SqliteDb::open(tmp / "missing.sqlite", SqliteDb::Options{false}));
  EXPECT_TRUE(SqliteDb::open(tmp / "made.sqlite"));
  EXPECT_TRUE(SqliteDb::open(tmp / "made.sqlite", SqliteDb::Options{false}));
}

}  // namespace
}  // namespace tegami
