// data_dir/tegami.pid (server/outbound.hpp PidFile): a server and a
// `tegami queue` command never hold it together; a server waits for a
// command, a command is told which server runs; the file goes with its
// holder. flock locks belong to open file descriptions, so two PidFile
// objects of one process exclude each other like two processes.
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../store/temp_dir.hpp"
#include "server/outbound.hpp"

namespace tegami::server {
namespace {

using Kind = PidLockHolder::Kind;

std::string content(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s;
}

TEST(PidFile, ServerHolderIsReportedNotWaitedFor) {
  testing::TempDir dir;
  const std::string path = dir / "tegami.pid";
  EXPECT_EQ(pid_lock_holder(path).kind, Kind::kNone);
  {
    PidFile server;
    auto r = server.acquire(path, PidFile::Role::kServer);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, 0);
    EXPECT_EQ(content(path), std::to_string(::getpid()) + "\n");
    EXPECT_EQ(running_server_pid(path), ::getpid());

    PidFile command;
    bool waited = false;
    auto c = command.acquire(path, PidFile::Role::kCommand, [&](long) { waited = true; });
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, ::getpid()) << "the server's pid, without the lock";
    EXPECT_FALSE(command.held());
    EXPECT_FALSE(waited);

    PidFile second;
    auto s = second.acquire(path, PidFile::Role::kServer);
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, ::getpid());
    EXPECT_FALSE(second.held());
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "removed by its holder";
  EXPECT_EQ(running_server_pid(path), 0);
}

TEST(PidFile, CommandHolderIsNoServerAndAServerWaitsForIt) {
  testing::TempDir dir;
  const std::string path = dir / "tegami.pid";
  // A stale file of a server killed with -9: no lock, so nobody holds it.
  { std::ofstream(path) << "999999\n"; }
  EXPECT_EQ(pid_lock_holder(path).kind, Kind::kNone);

  auto command = std::make_unique<PidFile>();
  auto c = command->acquire(path, PidFile::Role::kCommand);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(*c, 0);
  EXPECT_EQ(content(path), std::to_string(::getpid()) + " queue\n");
  auto h = pid_lock_holder(path);
  EXPECT_EQ(h.kind, Kind::kCommand);
  EXPECT_EQ(h.pid, ::getpid());
  EXPECT_EQ(running_server_pid(path), 0) << "a command is never signalled as a server";

  std::atomic<bool> waiting{false}, acquired{false};
  std::atomic<long> waited_for{0};
  std::thread server([&] {
    PidFile f;
    auto r = f.acquire(path, PidFile::Role::kServer, [&](long pid) {
      waited_for = pid;
      waiting = true;
    });
    acquired = r && *r == 0 && f.held() && running_server_pid(path) == ::getpid();
  });
  while (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(waited_for.load(), ::getpid());
  std::this_thread::sleep_for(3 * PidFile::kRetry);
  EXPECT_FALSE(acquired) << "the server must not start while the command holds the lock";
  command.reset();  // the command is done: unlinks and releases
  server.join();
  EXPECT_TRUE(acquired);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(PidFile, TwoCommandsRunOneAfterTheOther) {
  testing::TempDir dir;
  const std::string path = dir / "tegami.pid";
  auto first = std::make_unique<PidFile>();
  ASSERT_TRUE(first->acquire(path, PidFile::Role::kCommand));
  std::atomic<bool> waiting{false}, acquired{false};
  std::thread second([&] {
    PidFile f;
    auto r = f.acquire(path, PidFile::Role::kCommand, [&](long) { waiting = true; });
    acquired = r && *r == 0 && f.held();
  });
  while (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(acquired);
  first.reset();
  second.join();
  EXPECT_TRUE(acquired);
}

}  // namespace
}  // namespace tegami::server
