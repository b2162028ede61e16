#include "core/network_key.hpp"

#include <gtest/gtest.h>

namespace tegami {
namespace {

struct Case {
  const char* ip;
  unsigned prefix;
  const char* key;
};

TEST(NetworkKey, Table) {
  const Case cases[] = {
      // IPv4: the address itself, whatever the IPv6 prefix.
      {"192.0.2.7", 64, "192.0.2.7"},
      {"192.0.2.7", 48, "192.0.2.7"},
      {"127.0.0.1", 1, "127.0.0.1"},
      // IPv4-mapped IPv6 is the IPv4 address (either spelling).
      {"::ffff:192.0.2.7", 64, "192.0.2.7"},
      {"::ffff:c000:0207", 48, "192.0.2.7"},
      {"::FFFF:10.1.2.3", 128, "10.1.2.3"},
      // IPv6 /64: the interface identifier goes.
      {"fd00::100", 64, "fd00::/64"},
      {"fd00::101", 64, "fd00::/64"},
      {"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
      {"2001:DB8:1:2:ffff:ffff:ffff:ffff", 64, "2001:db8:1:2::/64"},
      // IPv6 /48: the subnet goes too.
      {"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
      {"2001:db8:1:ffff::1", 48, "2001:db8:1::/48"},
      // Prefixes that cut inside a group or an octet.
      {"2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::/56"},
      {"2001:db8:1:2ff:3:4:5:6", 60, "2001:db8:1:2f0::/60"},
      {"2001:db8:1:2:ffff::", 65, "2001:db8:1:2:8000::/65"},
      {"2001:db8:1:2:ffff::", 63, "2001:db8:1:2::/63"},
      {"2001:db8:1:3::", 63, "2001:db8:1:2::/63"},
      {"2001:db8::7", 127, "2001:db8::6/127"},
      {"2001:db8::7", 128, "2001:db8::7/128"},
      {"ffff::1", 1, "8000::/1"},
      {"7fff::1", 1, "::/1"},
      // Out-of-range prefixes are clamped.
      {"2001:db8::7", 0, "::/1"},
      {"2001:db8::7", 200, "2001:db8::7/128"},
      // Loopback and a zone id.
      {"::1", 64, "::/64"},
      {"fe80::1:2:3:4%lo", 64, "fe80::/64"},
      // Not an address: its own key.
      {"", 64, ""},
      {"unknown", 64, "unknown"},
      {"192.0.2.256", 64, "192.0.2.256"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(network_key(c.ip, c.prefix), c.key) << c.ip << "/" << c.prefix;
}

TEST(NetworkKey, SameNetworkSameKey) {
  EXPECT_EQ(network_key("fd00::100", 64), network_key("fd00::101", 64));
  EXPECT_NE(network_key("fd00::100", 64), network_key("fd00:0:0:1::100", 64));
  EXPECT_EQ(network_key("fd00::100", 48), network_key("fd00:0:0:1::100", 48));
  EXPECT_NE(network_key("fd00::100", 48), network_key("fd00:0:1::100", 48));
  // Different IPv4 addresses are never grouped.
  EXPECT_NE(network_key("192.0.2.1", 1), network_key("192.0.2.2", 1));
}

}  // namespace
}  // namespace tegami
