#include "auth/auth_throttle.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tegami {
namespace {

using namespace std::chrono_literals;

// Time is injected: every call takes `now`, moved by hand.
const auto kT0 = AuthThrottle::Clock::time_point{} + 1000h;

TEST(AuthThrottle, DoublesPerNetworkUpTo15s) {
  AuthThrottle t;
  const long expect[] = {2000, 4000, 8000, 15000, 15000};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(t.failure("192.0.2.1", "alice", static_cast<std::uint64_t>(i), kT0).count(),
              expect[i])
        << i;
  }
  EXPECT_EQ(t.failures("192.0.2.1", kT0), 5u);
  // Another IPv4 address starts from the beginning.
  EXPECT_EQ(t.failure("192.0.2.2", "alice", 1, kT0).count(), 2000);
}

TEST(AuthThrottle, SameWrongPasswordCountsOnce) {
  AuthThrottle t;
  auto fp = AuthThrottle::fingerprint("alice", "old-password");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t.failure("192.0.2.1", "alice", fp, kT0).count(), 2000);
  EXPECT_EQ(t.failures("192.0.2.1", kT0), 1u);
  EXPECT_EQ(
      t.failure("192.0.2.1", "alice", AuthThrottle::fingerprint("alice", "guess"), kT0).count(),
      4000);
  // A stale password for another account from the same network counts once
  // too, even with other failures in between.
  auto bob = AuthThrottle::fingerprint("bob", "old");
  t.failure("192.0.2.1", "bob", bob, kT0);
  t.failure("192.0.2.1", "alice", AuthThrottle::fingerprint("alice", "guess"), kT0);
  t.failure("192.0.2.1", "bob", bob, kT0);
  EXPECT_EQ(t.failures("192.0.2.1", kT0), 3u);
  EXPECT_EQ(t.failures("192.0.2.1", "bob", kT0), 1u);
}

TEST(AuthThrottle, WindowExpires) {
  AuthThrottle t;
  t.failure("ip", "a", 1, kT0);
  EXPECT_EQ(t.failure("ip", "a", 2, kT0 + 16min).count(), 2000);
  EXPECT_EQ(t.failures("ip", kT0 + 16min), 1u);
  EXPECT_EQ(t.failures("ip", kT0 + 32min), 0u);
}

TEST(AuthThrottle, LockedAtTheLimitUntilTheWindowPasses) {
  AuthThrottle::Settings s;
  s.limit = 3;
  s.window = 60s;
  AuthThrottle t(s);
  auto now = kT0;
  for (unsigned i = 0; i < 3; ++i) {
    EXPECT_FALSE(t.locked("198.51.100.9", now)) << i;
    t.failure("198.51.100.9", "victim@example.test", i, now);
    now += 1s;
  }
  // Over the limit: refused before any password is checked, whoever it is for.
  EXPECT_TRUE(t.locked("198.51.100.9", now));
  EXPECT_TRUE(t.locked("198.51.100.9", now + 58s));
  // Other clients are not affected.
  EXPECT_FALSE(t.locked("198.51.100.10", now));
  // The window runs from the last counted failure; asking does not extend it.
  EXPECT_FALSE(t.locked("198.51.100.9", now - 1s + 61s));
  // After the window the count starts again.
  EXPECT_EQ(t.failure("198.51.100.9", "victim@example.test", 99, now + 61s).count(), 2000);
  EXPECT_FALSE(t.locked("198.51.100.9", now + 61s));
}

TEST(AuthThrottle, ChecksInProgressCountTowardsTheLimit) {
  // Parallel connections must not slip more guesses past the limit while
  // their hashes are being computed.
  AuthThrottle::Settings s;
  s.limit = 3;
  AuthThrottle t(s);
  const std::string ip = "2001:db8:5::1";
  auto a1 = t.begin(ip, kT0);
  auto a2 = t.begin("2001:db8:5:1::2", kT0);  // the same /48
  auto a3 = t.begin("2001:db8:5:2::3", kT0);
  EXPECT_TRUE(a1 && a2 && a3);
  EXPECT_EQ(t.in_progress(ip), 3u);
  EXPECT_TRUE(t.locked(ip, kT0));
  EXPECT_FALSE(t.begin(ip, kT0));  // a fourth check at once: refused
  EXPECT_EQ(t.in_progress(ip), 3u);
  EXPECT_TRUE(t.begin("2001:db8:6::1", kT0));  // another /48
  // One succeeds and is released: room for one more.
  t.success(ip, "alice");
  a1.release();
  a1.release();  // twice is harmless
  EXPECT_FALSE(t.locked(ip, kT0));
  // Two fail: counted, then released.
  t.failure(ip, "bob", 1, kT0);
  a2.release();
  t.failure(ip, "bob", 2, kT0);
  a3 = AuthThrottle::Attempt{};  // assignment releases too
  EXPECT_EQ(t.in_progress(ip), 0u);
  EXPECT_EQ(t.failures(ip, kT0), 2u);
  auto a4 = t.begin(ip, kT0);
  EXPECT_TRUE(a4);
  EXPECT_FALSE(t.begin(ip, kT0));  // 2 failures + 1 check in progress
  {
    auto moved = std::move(a4);
    EXPECT_FALSE(a4);
    EXPECT_EQ(t.in_progress(ip), 1u);
  }  // the destructor releases
  EXPECT_EQ(t.in_progress(ip), 0u);
  EXPECT_TRUE(t.begin(ip, kT0));
  // Once the failures are out of the window, the checks in progress alone
  // count.
  EXPECT_TRUE(t.begin(ip, kT0 + 16min));
}

TEST(AuthThrottle, SuccessClearsOnlyThatAccount) {
  AuthThrottle::Settings s;
  s.limit = 10;
  AuthThrottle t(s);
  // Nine guesses against the victim, then the attacker's own account:
  // with the limit at 10, a failure plus a success must not reset the nine.
  for (unsigned i = 0; i < 9; ++i) t.failure("203.0.113.5", "victim@example.test", i, kT0);
  t.failure("203.0.113.5", "Attacker@Example.test", 100, kT0);
  EXPECT_TRUE(t.locked("203.0.113.5", kT0));
  t.success("203.0.113.5", "attacker@example.test");  // case does not matter
  EXPECT_EQ(t.failures("203.0.113.5", kT0), 9u);
  EXPECT_EQ(t.failures("203.0.113.5", "attacker@example.test", kT0), 0u);
  EXPECT_EQ(t.failures("203.0.113.5", "victim@example.test", kT0), 9u);
  // One more guess against the victim reaches the limit.
  t.failure("203.0.113.5", "victim@example.test", 9, kT0);
  EXPECT_TRUE(t.locked("203.0.113.5", kT0));
  // The victim's own login (the right password, before the lockout) clears
  // the failures against the victim.
  t.success("203.0.113.5", "victim@example.test");
  EXPECT_EQ(t.failures("203.0.113.5", kT0), 0u);
  EXPECT_FALSE(t.locked("203.0.113.5", kT0));
  EXPECT_EQ(t.tracked(), 0u);
  // A success with no failures recorded changes nothing.
  t.success("203.0.113.5", "nobody");
  EXPECT_EQ(t.tracked(), 0u);
}

TEST(AuthThrottle, IPv6CountsPerPrefix) {
  AuthThrottle t;  // default: /48
  t.failure("2001:db8:1:1::100", "a", 1, kT0);
  // Another address of the same /48 (another /64 even) continues the count.
  EXPECT_EQ(t.failure("2001:db8:1:2::101", "a", 2, kT0).count(), 4000);
  EXPECT_EQ(t.failures("2001:db8:1:ffff::1", kT0), 2u);
  // Another /48 does not.
  EXPECT_EQ(t.failure("2001:db8:2::100", "a", 1, kT0).count(), 2000);
  // IPv4-mapped counts as the IPv4 address.
  t.failure("192.0.2.1", "a", 1, kT0);
  EXPECT_EQ(t.failures("::ffff:192.0.2.1", kT0), 1u);
  EXPECT_EQ(t.network("2001:db8:1:2::101"), "2001:db8:1::/48");

  AuthThrottle::Settings s;
  s.ipv6_prefix = 64;
  AuthThrottle t64(s);
  t64.failure("2001:db8:1:1::100", "a", 1, kT0);
  EXPECT_EQ(t64.failures("2001:db8:1:1::200", kT0), 1u);
  EXPECT_EQ(t64.failures("2001:db8:1:2::100", kT0), 0u);
}

TEST(AuthThrottle, ConfiguredDelay) {
  AuthThrottle::Settings s;
  s.base_delay = 0ms;
  AuthThrottle t0(s);
  EXPECT_EQ(t0.failure("ip", "a", 1, kT0).count(), 0);
  s.base_delay = 1s;
  AuthThrottle t1(s);
  const long expect[] = {1000, 2000, 4000, 8000, 15000, 15000};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(t1.failure("ip", "a", static_cast<std::uint64_t>(i), kT0).count(), expect[i]) << i;
  s.base_delay = 20s;  // beyond the usual cap: the cap follows
  AuthThrottle t20(s);
  EXPECT_EQ(t20.failure("ip", "a", 1, kT0).count(), 20000);
  EXPECT_EQ(t20.failure("ip", "a", 2, kT0).count(), 20000);
}

TEST(AuthThrottle, MemoryIsBounded) {
  AuthThrottle t;
  // Many accounts from one network: the records stop, the total does not.
  for (unsigned i = 0; i < AuthThrottle::kMaxAccountsPerNetwork + 10; ++i)
    t.failure("192.0.2.1", "user" + std::to_string(i), 1, kT0);
  EXPECT_EQ(t.failures("192.0.2.1", kT0), AuthThrottle::kMaxAccountsPerNetwork + 10);
  const std::string last = "user" + std::to_string(AuthThrottle::kMaxAccountsPerNetwork + 9);
  EXPECT_EQ(t.failures("192.0.2.1", last, kT0), 0u);  // not recorded: no success can clear it
  t.success("192.0.2.1", last);
  EXPECT_EQ(t.failures("192.0.2.1", kT0), AuthThrottle::kMaxAccountsPerNetwork + 10);
}

}  // namespace
}  // namespace tegami
