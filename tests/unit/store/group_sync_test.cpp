// Group commit of directory fsyncs (issue 16): no caller returns before a
// sync that started after its change has finished; concurrent callers share
// syncs; a failed sync is every covered caller's error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "store/maildir/maildir_fs.hpp"

namespace tegami::maildir {
namespace {

std::atomic<std::uint64_t> g_changes{0};
std::mutex g_mu;
std::vector<std::uint64_t> g_completed;  // for each finished sync: changes made before it started
std::atomic<int> g_fail_next{0};

Result<void> fake_sync(const std::string&) {
  std::uint64_t seen = g_changes.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::lock_guard lock(g_mu);
  g_completed.push_back(seen);
  if (g_fail_next.exchange(0) != 0) return fail(Error::temp("injected EIO"));
  return {};
}

std::uint64_t best_completed() {
  std::lock_guard lock(g_mu);
  return g_completed.empty() ? 0 : *std::max_element(g_completed.begin(), g_completed.end());
}

TEST(GroupSync, NobodyReturnsBeforeASyncThatSawItsChange) {
  GroupSync group(&fake_sync);
  constexpr int kThreads = 16, kEach = 25;
  std::atomic<int> violations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        std::uint64_t mine = ++g_changes;  // "link into new/"
        ASSERT_TRUE(group.sync("dir"));
        if (best_completed() < mine) ++violations;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(violations.load(), 0);
  // Shared: far fewer syncs than callers.
  EXPECT_LT(group.syncs(), static_cast<std::uint64_t>(kThreads * kEach) / 2) << group.syncs();
  EXPECT_GT(group.syncs(), 0u);
}

TEST(GroupSync, AFailedSyncIsTheErrorOfEveryCallerItCovered) {
  GroupSync group(&fake_sync);
  EXPECT_TRUE(group.sync("dir"));
  g_fail_next = 1;
  auto r = group.sync("dir");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("injected EIO"), std::string::npos);
  EXPECT_TRUE(r.error().temporary);
  EXPECT_TRUE(group.sync("dir"));  // the next one is fine again
}

TEST(GroupSync, RealDirectory) {
  char tmpl[] = "/tmp/tegami-groupsync-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  EXPECT_TRUE(fsync_dir(tmpl));
  EXPECT_FALSE(fsync_dir(std::string(tmpl) + "/missing"));
  ::rmdir(tmpl);
}

}  // namespace
}  // namespace tegami::maildir
