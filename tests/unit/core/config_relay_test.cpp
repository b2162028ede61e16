// [relay] mx_port (issue 6): the port MX hosts are reached on.
#include <gtest/gtest.h>

#include "core/config.hpp"

namespace tegami {
namespace {

TEST(ConfigRelay, MxPortDefaultsTo25) {
  auto c = parse_config("hostname = \"h\"\n", "/tmp/t.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->mx_port, 25);
}

TEST(ConfigRelay, MxPort) {
  auto c = parse_config("[relay]\nmx_port = 2525\n", "/tmp/t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->mx_port, 2525);
  for (const char* bad : {"0", "65536", "-1", "\"25\""}) {
    auto b = parse_config(std::string("[relay]\nmx_port = ") + bad + "\n", "/tmp/t.toml");
    EXPECT_FALSE(b) << bad;
  }
}

}  // namespace
}  // namespace tegami
