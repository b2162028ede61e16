// [limits] disk_reserve (issue 15): the MAIL verdicts from a measured free
// space, the state kept across measurements, and the real statvfs on a
// path not created yet.
#include "server/disk_reserve.hpp"

#include <gtest/gtest.h>

#include <map>

#include "../store/temp_dir.hpp"

namespace tegami::server {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

// Free space per path, changed by the test between refreshes.
struct FakeDisk {
  std::map<std::string, std::uint64_t> free;
  bool broken = false;
  DiskReserve::Measure measure() {
    return [this](const std::string& path) -> Result<std::uint64_t> {
      if (broken) return fail(Error::temp("statvfs " + path + ": Input/output error"));
      return free.at(path);
    };
  }
};

TEST(DiskReserve, RefusesMailBelowTheReserveAndAcceptsAgainAbove) {
  FakeDisk disk;
  disk.free = {{"/d", 500 * kMiB}};
  DiskReserve r({"/d"}, 100 * kMiB, disk.measure());
  // Never measured: no verdict of its own (storage would report errors).
  EXPECT_FALSE(r.check_mail(std::nullopt));
  r.refresh();
  EXPECT_EQ(r.available(), 500 * kMiB);
  EXPECT_FALSE(r.low());
  EXPECT_FALSE(r.check_mail(std::nullopt));

  disk.free["/d"] = 100 * kMiB - 1;
  EXPECT_FALSE(r.check_mail(std::nullopt)) << "cached until the next refresh";
  r.refresh();
  EXPECT_TRUE(r.low());
  auto refusal = r.check_mail(std::nullopt);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(*refusal, "452 4.3.1 Insufficient system storage");
  EXPECT_TRUE(r.check_mail(std::uint64_t{1}));

  disk.free["/d"] = 100 * kMiB;  // exactly the reserve is enough
  r.refresh();
  EXPECT_FALSE(r.low());
  EXPECT_FALSE(r.check_mail(std::nullopt));
}

TEST(DiskReserve, DeclaredSizeMustLeaveTheReserve) {
  FakeDisk disk;
  disk.free = {{"/d", 300 * kMiB}};
  DiskReserve r({"/d"}, 100 * kMiB, disk.measure());
  r.refresh();
  EXPECT_FALSE(r.check_mail(std::uint64_t{200 * kMiB}));
  auto refusal = r.check_mail(std::uint64_t{200 * kMiB + 1});
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->substr(0, 10), "452 4.3.1 ");
  EXPECT_TRUE(r.check_mail(~std::uint64_t{0}));  // a saturated SIZE= does not wrap around
  EXPECT_FALSE(r.low()) << "a refused SIZE= is not the low-space state";
}

TEST(DiskReserve, TheFullestFileSystemCounts) {
  FakeDisk disk;
  disk.free = {{"/d", 900 * kMiB}, {"/d/mail", 50 * kMiB}, {"/d/queue", 900 * kMiB}};
  DiskReserve r({"/d", "/d/mail", "/d/queue"}, 100 * kMiB, disk.measure());
  r.refresh();
  EXPECT_EQ(r.available(), 50 * kMiB);
  EXPECT_TRUE(r.check_mail(std::nullopt));
}

TEST(DiskReserve, AFailedMeasurementKeepsTheLastValue) {
  FakeDisk disk;
  disk.free = {{"/d", 50 * kMiB}};
  DiskReserve r({"/d"}, 100 * kMiB, disk.measure());
  r.refresh();
  disk.broken = true;
  r.refresh();
  EXPECT_EQ(r.available(), 50 * kMiB);
  EXPECT_TRUE(r.low());
  EXPECT_TRUE(r.check_mail(std::nullopt));
  disk.broken = false;
  disk.free["/d"] = 500 * kMiB;
  r.refresh();
  EXPECT_FALSE(r.low());
}

TEST(DiskReserve, ZeroIsOff) {
  FakeDisk disk;
  disk.free = {{"/d", 0}};
  DiskReserve r({"/d"}, 0, disk.measure());
  EXPECT_FALSE(r.enabled());
  r.refresh();
  EXPECT_FALSE(r.available()) << "disabled: nothing is measured";
  EXPECT_FALSE(r.check_mail(std::uint64_t{1} << 40));
}

TEST(DiskReserve, StatvfsMeasuresAPathNotCreatedYetAtItsParent) {
  testing::TempDir dir;
  auto here = DiskReserve::statvfs_available(dir.path());
  ASSERT_TRUE(here) << here.error().message;
  auto later = DiskReserve::statvfs_available(dir / "mail/example.test/alice");
  ASSERT_TRUE(later) << later.error().message;
  // Same file system, measured twice: close (other processes write meanwhile).
  std::uint64_t diff = *here > *later ? *here - *later : *later - *here;
  EXPECT_LT(diff, 256 * kMiB);
  EXPECT_GT(*here, 0u);
}

}  // namespace
}  // namespace tegami::server
