// [limits] disk_reserve (issue 15): a size, "0" or 0 for off; a bad value
// names its line.
#include <gtest/gtest.h>

#include "core/config.hpp"

namespace tegami {
namespace {

TEST(ConfigDiskReserve, DefaultsTo256MiB) {
  auto c = parse_config("hostname = \"h\"\n", "/tmp/t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->disk_reserve, 256ull * 1024 * 1024);
  EXPECT_EQ(c->disk_reserve, Config::kDefaultDiskReserve);
}

TEST(ConfigDiskReserve, SizesAndZero) {
  const struct {
    const char* value;
    std::uint64_t bytes;
  } cases[] = {
      {"\"100MiB\"", 100ull << 20},
      {"\"2GiB\"", 2ull << 30},
      {"\"1500000\"", 1500000},
      {"4096", 4096},
      {"\"0\"", 0},
      {"0", 0},
      {"\"0MiB\"", 0},
  };
  for (const auto& tc : cases) {
    auto c =
        parse_config(std::string("[limits]\ndisk_reserve = ") + tc.value + "\n", "/tmp/t.toml");
    ASSERT_TRUE(c) << tc.value << ": " << c.error().message;
    EXPECT_EQ(c->disk_reserve, tc.bytes) << tc.value;
  }
}

TEST(ConfigDiskReserve, BadValuesNameTheLine) {
  for (const char* bad : {"\"lots\"", "-1", "true", "\"100 MiB\"", "\"-5MiB\"", "[]"}) {
    auto c = parse_config(std::string("[limits]\n\ndisk_reserve = ") + bad + "\n", "t.toml");
    ASSERT_FALSE(c) << bad;
    EXPECT_NE(c.error().message.find("t.toml:3:"), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find("limits.disk_reserve"), std::string::npos)
        << c.error().message;
  }
}

}  // namespace
}  // namespace tegami
