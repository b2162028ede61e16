// net::ConnectionRegistry: the per-network connection cap (issue 14).
#include "net/connection_registry.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tegami::net {
namespace {

using Admit = ConnectionRegistry::Admit;

Admit admit(ConnectionRegistry& r, const std::string& ip,
            std::vector<ConnectionRegistry::Ticket>& held) {
  ConnectionRegistry::Ticket t;
  auto a = r.admit(
      ip, [] {}, t);
  if (a == Admit::Ok) held.push_back(std::move(t));
  return a;
}

TEST(ConnectionRegistry, IPv6CountsPerSlash64) {
  ConnectionRegistry r(100, 3);  // default prefix: 64
  std::vector<ConnectionRegistry::Ticket> held;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(admit(r, "fd00::100", held), Admit::Ok);
  EXPECT_EQ(admit(r, "fd00::100", held), Admit::TooManyFromNetwork);
  // Another address of the same /64 is the same client.
  EXPECT_EQ(admit(r, "fd00::101", held), Admit::TooManyFromNetwork);
  EXPECT_EQ(admit(r, "fd00::ffff:ffff:ffff:ffff", held), Admit::TooManyFromNetwork);
  // The next /64 is another client.
  EXPECT_EQ(admit(r, "fd00:0:0:1::100", held), Admit::Ok);
  EXPECT_EQ(r.active_from("fd00::1"), 3u);
  EXPECT_EQ(r.network("fd00::101"), "fd00::/64");
  // A slot freed anywhere in the /64 can be used by any of its addresses.
  held.erase(held.begin());
  EXPECT_EQ(admit(r, "fd00::101", held), Admit::Ok);
  EXPECT_EQ(r.active(), 4u);
}

TEST(ConnectionRegistry, IPv4PerAddressAndMapped) {
  ConnectionRegistry r(100, 2);
  std::vector<ConnectionRegistry::Ticket> held;
  EXPECT_EQ(admit(r, "192.0.2.1", held), Admit::Ok);
  // The IPv4-mapped spelling is the same client.
  EXPECT_EQ(admit(r, "::ffff:192.0.2.1", held), Admit::Ok);
  EXPECT_EQ(admit(r, "192.0.2.1", held), Admit::TooManyFromNetwork);
  EXPECT_EQ(admit(r, "::ffff:192.0.2.1", held), Admit::TooManyFromNetwork);
  // Neighbouring IPv4 addresses are separate clients.
  EXPECT_EQ(admit(r, "192.0.2.2", held), Admit::Ok);
}

TEST(ConnectionRegistry, ConfiguredPrefix) {
  ConnectionRegistry r48(100, 1, 48);
  ConnectionRegistry r128(100, 1, 128);
  std::vector<ConnectionRegistry::Ticket> held;
  EXPECT_EQ(admit(r48, "2001:db8:1:1::1", held), Admit::Ok);
  EXPECT_EQ(admit(r48, "2001:db8:1:2::1", held), Admit::TooManyFromNetwork);
  EXPECT_EQ(admit(r48, "2001:db8:2::1", held), Admit::Ok);
  EXPECT_EQ(admit(r128, "2001:db8:1:1::1", held), Admit::Ok);
  EXPECT_EQ(admit(r128, "2001:db8:1:1::2", held), Admit::Ok);
  EXPECT_EQ(admit(r128, "2001:db8:1:1::2", held), Admit::TooManyFromNetwork);
}

TEST(ConnectionRegistry, TotalAndStopping) {
  ConnectionRegistry r(2, 10);
  std::vector<ConnectionRegistry::Ticket> held;
  EXPECT_EQ(admit(r, "192.0.2.1", held), Admit::Ok);
  EXPECT_EQ(admit(r, "fd00::1", held), Admit::Ok);
  EXPECT_EQ(admit(r, "192.0.2.3", held), Admit::TooMany);
  held.clear();
  EXPECT_EQ(r.active(), 0u);
  EXPECT_EQ(r.active_from("fd00::1"), 0u);
  r.interrupt_all();
  EXPECT_EQ(admit(r, "192.0.2.1", held), Admit::Stopping);
}

// Stress mode: on at 80% of the total cap (every session told once), off
// below 60%, on again only after that.
TEST(ConnectionRegistry, StressModeHysteresis) {
  ConnectionRegistry r(10, 10);
  std::vector<ConnectionRegistry::Ticket> held;
  int told = 0;
  auto add = [&] {
    ConnectionRegistry::Ticket t;
    ASSERT_EQ(r.admit(
                  "192.0.2.1", [] {}, t, [&told] { ++told; }),
              Admit::Ok);
    held.push_back(std::move(t));
  };
  for (int i = 0; i < 7; ++i) add();
  EXPECT_FALSE(r.stressed());
  EXPECT_EQ(told, 0);
  add();  // 8 of 10
  EXPECT_TRUE(r.stressed());
  EXPECT_EQ(told, 8);  // every session, the new one included
  add();
  EXPECT_EQ(told, 8);  // once per switch
  held.resize(6);      // 6 of 10: still on
  EXPECT_TRUE(r.stressed());
  held.resize(5);  // 5 of 10: below 60%
  EXPECT_FALSE(r.stressed());
  for (int i = 0; i < 3; ++i) add();  // 8 again
  EXPECT_TRUE(r.stressed());
  EXPECT_EQ(told, 16);
}

}  // namespace
}  // namespace tegami::net
