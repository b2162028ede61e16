#include "store/sqlite/sqlite_grant_store.hpp"

#include <gtest/gtest.h>

#include "temp_dir.hpp"

namespace tegami {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;
using TimePoint = GrantStore::TimePoint;

const TimePoint kT0 = TimePoint(std::chrono::seconds(1'700'000'000));

TEST(CanonicalIp, Table) {
  struct Case {
    std::string in;
    std::optional<std::string> out;
  };
  const Case cases[] = {
      {"192.0.2.1", "192.0.2.1"},
      {"::ffff:192.0.2.1", "192.0.2.1"},
      {"2001:DB8:0:0::1", "2001:db8::1"},
      {"::1", "::1"},
      {"192.0.2.256", std::nullopt},
      {"example.test", std::nullopt},
      {"", std::nullopt},
      {"192.0.2.1/32", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(canonical_ip(c.in), c.out) << c.in;
}

class GrantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = SqliteDb::open(tmp_ / "directory.sqlite");
    ASSERT_TRUE(db) << db.error().message;
    grants_ = std::make_unique<SqliteGrantStore>(*db);
  }
  TempDir tmp_;
  std::unique_ptr<SqliteGrantStore> grants_;
};

TEST_F(GrantTest, RecordFindExpire) {
  ASSERT_TRUE(grants_->record("192.0.2.1", "Alice@Example.test", kT0 + 600s));
  auto g = grants_->find("::ffff:192.0.2.1", kT0);
  ASSERT_TRUE(g);
  ASSERT_TRUE(g->has_value());
  EXPECT_EQ((*g)->ip, "192.0.2.1");
  EXPECT_EQ((*g)->account, "alice@example.test");
  EXPECT_EQ((*g)->expires, kT0 + 600s);
  EXPECT_TRUE(grants_->find("192.0.2.1", kT0 + 599s)->has_value());
  EXPECT_FALSE(grants_->find("192.0.2.1", kT0 + 600s)->has_value());  // expired at `expires`
  EXPECT_FALSE(grants_->find("192.0.2.2", kT0)->has_value());
  EXPECT_FALSE(grants_->find("not-an-ip", kT0)->has_value());
  EXPECT_FALSE(grants_->record("not-an-ip", "a@b.test", kT0));
}

TEST_F(GrantTest, NewerLoginReplaces) {
  ASSERT_TRUE(grants_->record("2001:db8::1", "a@example.test", kT0 + 60s));
  ASSERT_TRUE(grants_->record("2001:DB8::1", "b@example.test", kT0 + 120s));
  auto all = grants_->list(kT0);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].account, "b@example.test");
  EXPECT_EQ((*all)[0].expires, kT0 + 120s);
}

TEST_F(GrantTest, ListAndPurge) {
  ASSERT_TRUE(grants_->record("192.0.2.3", "c@example.test", kT0 + 300s));
  ASSERT_TRUE(grants_->record("192.0.2.1", "a@example.test", kT0 + 100s));
  ASSERT_TRUE(grants_->record("192.0.2.2", "b@example.test", kT0 + 200s));
  auto all = grants_->list(kT0 + 150s);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].ip, "192.0.2.2");  // soonest expiry first
  EXPECT_EQ((*all)[1].ip, "192.0.2.3");
  EXPECT_EQ(*grants_->purge(kT0 + 200s), 2u);
  EXPECT_EQ(*grants_->purge(kT0 + 200s), 0u);
  EXPECT_EQ(grants_->list(kT0)->size(), 1u);
}

}  // namespace
}  // namespace tegami
