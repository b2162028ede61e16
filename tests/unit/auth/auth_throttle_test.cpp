#include "auth/auth_throttle.hpp"

#include <gtest/gtest.h>

namespace tegami {
namespace {

using namespace std::chrono_literals;

TEST(AuthThrottle, DoublesPerIpUpTo15s) {
  AuthThrottle t;
  auto now = AuthThrottle::Clock::now();
  const long expect[] = {2000, 4000, 8000, 15000, 15000};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(t.failure("192.0.2.1", static_cast<std::uint64_t>(i), now).count(), expect[i]) << i;
  }
  EXPECT_EQ(t.failures("192.0.2.1", now), 5u);
  // Another IP starts from the beginning.
  EXPECT_EQ(t.failure("192.0.2.2", 1, now).count(), 2000);
}

TEST(AuthThrottle, SameWrongPasswordCountsOnce) {
  AuthThrottle t;
  auto now = AuthThrottle::Clock::now();
  auto fp = AuthThrottle::fingerprint("alice", "old-password");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t.failure("192.0.2.1", fp, now).count(), 2000);
  EXPECT_EQ(t.failures("192.0.2.1", now), 1u);
  EXPECT_EQ(t.failure("192.0.2.1", AuthThrottle::fingerprint("alice", "guess"), now).count(), 4000);
}

TEST(AuthThrottle, SuccessAndWindowReset) {
  AuthThrottle t;
  auto now = AuthThrottle::Clock::now();
  t.failure("ip", 1, now);
  t.failure("ip", 2, now);
  t.success("ip");
  EXPECT_EQ(t.failures("ip", now), 0u);
  t.failure("ip", 1, now);
  EXPECT_EQ(t.failure("ip", 2, now + 16min).count(), 2000);
}

}  // namespace
}  // namespace tegami
