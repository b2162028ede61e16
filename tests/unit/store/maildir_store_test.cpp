#include "store/maildir/maildir_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/maildir/maildir_names.hpp"
#include "temp_dir.hpp"

namespace tegami {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const MailboxRef kAlice{"example.test", "alice"};
const MailboxRef kBob{"example.test", "bob"};
const MailboxRef kCarol{"second.test", "carol"};

const std::string kMessage =
    "From: a@example.net\r\nSubject: hi\r\n\r\nline one\r\n.dot line\r\n\r\nlast\r\n";
const std::string kOnDisk = "From: a@example.net\nSubject: hi\n\nline one\n.dot line\n\nlast\n";

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class MaildirTest : public ::testing::Test {
 protected:
  std::string box(const MailboxRef& b) const {
    return tmp_.path() + "/mail/" + b.domain + "/" + b.local;
  }
  std::vector<std::string> new_of(const MailboxRef& b) const { return files_in(box(b) + "/new"); }
  std::vector<std::string> cur_of(const MailboxRef& b) const { return files_in(box(b) + "/cur"); }
  std::vector<std::string> tmp_of(const MailboxRef& b) const { return files_in(box(b) + "/tmp"); }

  TempDir tmp_;
  MaildirStore store_{tmp_.path() + "/mail", "mail.example.test"};
};

TEST_F(MaildirTest, DeliverWritesLfAndSizes) {
  ASSERT_TRUE(store_.deliver({kAlice}, kMessage));
  auto files = new_of(kAlice);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(slurp(files[0]), kOnDisk);
  std::string name = fs::path(files[0]).filename().string();
  EXPECT_EQ(maildir::size_field(name, 'S'), kOnDisk.size());
  EXPECT_EQ(maildir::size_field(name, 'W'), kMessage.size());
  EXPECT_NE(name.find(".mail.example.test,S="), std::string::npos) << name;
  EXPECT_TRUE(tmp_of(kAlice).empty());
  EXPECT_TRUE(cur_of(kAlice).empty());
  struct stat st {};
  ASSERT_EQ(::stat(files[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_nlink, 1u);  // the tmp/ link is gone
}

TEST_F(MaildirTest, DeliverNamesAreUnique) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(store_.deliver({kAlice}, kMessage));
  EXPECT_EQ(new_of(kAlice).size(), 50u);
}

TEST_F(MaildirTest, DeliverToSeveralMailboxesWithHardLinks) {
  // Bob listed twice: delivered once.
  ASSERT_TRUE(store_.deliver({kAlice, kBob, kCarol, kBob}, kMessage));
  std::set<std::string> names;
  for (const auto& b : {kAlice, kBob, kCarol}) {
    auto files = new_of(b);
    ASSERT_EQ(files.size(), 1u) << b.address();
    EXPECT_EQ(slurp(files[0]), kOnDisk);
    names.insert(fs::path(files[0]).filename().string());
    struct stat st {};
    ASSERT_EQ(::stat(files[0].c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 3u);  // one inode, three names
    EXPECT_TRUE(tmp_of(b).empty());
  }
  EXPECT_EQ(names.size(), 3u);  // each mailbox has its own unique name
}

TEST_F(MaildirTest, MailboxNamesAreLowerCaseAndSafe) {
  ASSERT_TRUE(store_.deliver({MailboxRef{"Example.TEST", "Alice"}}, kMessage));
  EXPECT_EQ(new_of(kAlice).size(), 1u);
  for (const auto& bad : {MailboxRef{"example.test", ".."}, MailboxRef{"..", "x"},
                          MailboxRef{"example.test", "a/b"}, MailboxRef{"", "x"}}) {
    auto r = store_.deliver({bad}, kMessage);
    EXPECT_FALSE(r) << bad.address();
    EXPECT_FALSE(store_.open_maildrop(bad)) << bad.address();
  }
}

TEST_F(MaildirTest, Utf8LocalPartIsItsNfcFolderAndBadBytesAreRefused) {
  // A UTF-8 local part (SMTPUTF8) is a folder of the same UTF-8 octets (the
  // directory stores it in NFC); the domain is an A-label.
  MailboxRef utf8{"xn--r8jz45g.xn--zckzah", "caf\xc3\xa9"};
  ASSERT_TRUE(store_.deliver({utf8}, kMessage));
  EXPECT_EQ(new_of(utf8).size(), 1u);
  EXPECT_TRUE(fs::is_directory(fs::path(box(utf8)) / "new"));
  EXPECT_EQ(*store_.mailbox_path(utf8), box(utf8));
  // Malformed UTF-8, control bytes (C0, DEL, C1) never become a path.
  for (const auto& bad :
       {MailboxRef{"example.test", "a\xc0\xaf"}, MailboxRef{"example.test", "a\x01"},
        MailboxRef{"example.test", "a\x7f"}, MailboxRef{"example.test", "a\xc2\x85"},
        MailboxRef{"example.test", "a\nb"}, MailboxRef{"exa\xff", "x"}}) {
    EXPECT_FALSE(store_.deliver({bad}, kMessage)) << bad.address();
    EXPECT_FALSE(store_.mailbox_path(bad)) << bad.address();
  }
}

// Tests run as root, so permissions cannot make a directory unwritable; a
// regular FILE where a directory should be makes link()/open() fail instead.
TEST_F(MaildirTest, FailureInLaterMailboxLeavesNothing) {
  ASSERT_TRUE(store_.deliver({kAlice}, "first\r\n"));  // create alice's Maildir
  fs::create_directories(box(kBob) + "/tmp");
  fs::create_directories(box(kBob) + "/cur");
  std::ofstream(box(kBob) + "/new") << "not a directory";
  auto before = new_of(kAlice);

  auto r = store_.deliver({kAlice, kCarol, kBob}, kMessage);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary);
  EXPECT_EQ(r.error().smtp_code, 451);
  EXPECT_EQ(r.error().enhanced, "4.3.0");
  EXPECT_EQ(new_of(kAlice), before);  // the link made into alice/new/ was removed
  EXPECT_TRUE(new_of(kCarol).empty());
  EXPECT_TRUE(tmp_of(kAlice).empty());
  EXPECT_TRUE(tmp_of(kCarol).empty());
}

TEST_F(MaildirTest, FailureInFirstMailboxLeavesNothing) {
  fs::create_directories(box(kAlice));
  std::ofstream(box(kAlice) + "/tmp") << "not a directory";
  auto r = store_.deliver({kAlice, kBob}, kMessage);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary);
  EXPECT_TRUE(new_of(kAlice).empty());
  EXPECT_TRUE(new_of(kBob).empty());
}

TEST_F(MaildirTest, FailureWhenMailboxPathIsAFile) {
  fs::create_directories(tmp_.path() + "/mail/example.test");
  std::ofstream(box(kBob)) << "not a directory";
  auto r = store_.deliver({kAlice, kBob}, kMessage);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary);
  EXPECT_TRUE(new_of(kAlice).empty());
}

// Mailboxes already made are not made again for each delivery (issue 16),
// but one removed while the store runs is made again at once.
TEST_F(MaildirTest, MailboxRemovedMeanwhileIsMadeAgain) {
  ASSERT_TRUE(store_.deliver({kAlice, kBob}, kMessage));
  fs::remove_all(box(kAlice));
  ASSERT_TRUE(store_.deliver({kAlice}, kMessage));
  EXPECT_EQ(new_of(kAlice).size(), 1u);
  fs::remove_all(box(kBob) + "/new");  // tmp/ still there: the link fails
  EXPECT_FALSE(store_.deliver({kAlice, kBob}, kMessage));
  EXPECT_EQ(new_of(kAlice).size(), 1u);  // nothing half-delivered
  ASSERT_TRUE(store_.deliver({kAlice, kBob}, kMessage));
  EXPECT_EQ(new_of(kBob).size(), 1u);
}

TEST_F(MaildirTest, MaildropListsReadsAndCommits) {
  ASSERT_TRUE(store_.deliver({kAlice}, "Subject: 1\r\n\r\none\r\n"));
  ASSERT_TRUE(store_.deliver({kAlice}, "Subject: 2\r\n\r\ntwo two\r\n"));
  ASSERT_TRUE(store_.deliver({kAlice}, "Subject: 3\r\n\r\nthree\r\n"));
  std::vector<std::string> uids;
  {
    auto drop = store_.open_maildrop(kAlice);
    ASSERT_TRUE(drop) << drop.error().message;
    const auto& e = (*drop)->entries();
    ASSERT_EQ(e.size(), 3u);
    for (const auto& x : e) {
      EXPECT_TRUE(x.in_new);
      uids.push_back(x.uid);
      EXPECT_LE(x.uid.size(), 70u);
    }
    EXPECT_EQ(e[0].size, std::string("Subject: 1\r\n\r\none\r\n").size());
    EXPECT_EQ(e[1].size, std::string("Subject: 2\r\n\r\ntwo two\r\n").size());
    auto m = (*drop)->read(1);
    ASSERT_TRUE(m);
    EXPECT_EQ(*m, "Subject: 2\r\n\r\ntwo two\r\n");
    EXPECT_FALSE((*drop)->read(3));
    // Delete #1, mark #2 seen, leave #3 untouched.
    ASSERT_TRUE((*drop)->commit({true, false, false}, {true, true, false}));
  }
  EXPECT_EQ(new_of(kAlice).size(), 1u);
  auto cur = cur_of(kAlice);
  ASSERT_EQ(cur.size(), 1u);
  EXPECT_NE(cur[0].find(":2,S"), std::string::npos);

  auto drop = store_.open_maildrop(kAlice);
  ASSERT_TRUE(drop);
  const auto& e = (*drop)->entries();
  ASSERT_EQ(e.size(), 2u);
  // Same uids after the move new/ -> cur/, order kept (oldest first).
  EXPECT_EQ(e[0].uid, uids[1]);
  EXPECT_FALSE(e[0].in_new);
  EXPECT_EQ(e[1].uid, uids[2]);
  EXPECT_TRUE(e[1].in_new);
  EXPECT_EQ(*(*drop)->read(0), "Subject: 2\r\n\r\ntwo two\r\n");
}

TEST_F(MaildirTest, MaildropListsWithoutOpeningFiles) {
  ASSERT_TRUE(store_.deliver({kAlice}, kMessage));
  auto file = new_of(kAlice).at(0);
  // Make the content unreadable garbage of another size: the listing must
  // still report the size from the name, proving it never opened the file.
  std::ofstream(file, std::ios::trunc) << "x";
  auto drop = store_.open_maildrop(kAlice);
  ASSERT_TRUE(drop);
  ASSERT_EQ((*drop)->entries().size(), 1u);
  EXPECT_EQ((*drop)->entries()[0].size, kMessage.size());
}

TEST_F(MaildirTest, ForeignMaildirFiles) {
  fs::create_directories(box(kAlice) + "/new");
  fs::create_directories(box(kAlice) + "/cur");
  fs::create_directories(box(kAlice) + "/tmp");
  std::ofstream(box(kAlice) + "/cur/1600000000.foreign:2,S", std::ios::binary) << "a\nb\r\nc\n";
  std::ofstream(box(kAlice) + "/new/1600000001.with space", std::ios::binary) << "x\n";
  std::ofstream(box(kAlice) + "/new/.hidden", std::ios::binary) << "ignored\n";
  fs::create_directories(box(kAlice) + "/new/subdir");
  auto drop = store_.open_maildrop(kAlice);
  ASSERT_TRUE(drop);
  const auto& e = (*drop)->entries();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].uid, "1600000000.foreign");
  EXPECT_EQ(e[0].size, std::string("a\r\nb\r\nc\r\n").size());
  EXPECT_EQ(*(*drop)->read(0), "a\r\nb\r\nc\r\n");
  EXPECT_EQ(e[1].uid[0], 'X');  // a space is not allowed in a UIDL
  EXPECT_EQ(e[1].size, 3u);
}

TEST_F(MaildirTest, LockConflictWithinOneProcess) {
  auto first = store_.open_maildrop(kAlice);
  ASSERT_TRUE(first) << first.error().message;
  auto second = store_.open_maildrop(MailboxRef{"EXAMPLE.test", "ALICE"});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().enhanced, "IN-USE");
  EXPECT_EQ(second.error().enhanced, MaildirStore::kInUse);
  // Another mailbox is independent.
  EXPECT_TRUE(store_.open_maildrop(kBob));
  // A second store object (another server instance) conflicts too.
  MaildirStore other(tmp_.path() + "/mail", "x");
  EXPECT_FALSE(other.open_maildrop(kAlice));
  first->reset();  // releases the lock
  EXPECT_TRUE(store_.open_maildrop(kAlice));
}

TEST_F(MaildirTest, LockConflictAcrossProcesses) {
  auto held = store_.open_maildrop(kAlice);
  ASSERT_TRUE(held);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    MaildirStore child(tmp_.path() + "/mail", "child");
    auto r = child.open_maildrop(kAlice);
    ::_exit(!r && r.error().enhanced == "IN-USE" ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the other process got the lock";
}

TEST_F(MaildirTest, CommitToleratesVanishedFiles) {
  ASSERT_TRUE(store_.deliver({kAlice}, kMessage));
  ASSERT_TRUE(store_.deliver({kAlice}, kMessage));
  auto drop = store_.open_maildrop(kAlice);
  ASSERT_TRUE(drop);
  for (const auto& f : new_of(kAlice)) fs::remove(f);
  EXPECT_TRUE((*drop)->commit({true, false}, {false, true}));
  EXPECT_FALSE((*drop)->read(0));
  EXPECT_FALSE((*drop)->commit({true}, {false}));  // wrong vector size
}

// The event loop's open (issue 16): a message just delivered is in the
// kernel's caches; the descriptor reads the same file as open_message().
// A vanished file or a bad index gives -1 (the worker path reports why).
TEST_F(MaildirTest, OpenMessageCached) {
  ASSERT_TRUE(store_.deliver({kAlice}, "Subject: c\r\n\r\ncached\r\n"));
  ASSERT_TRUE(store_.deliver({kAlice}, kMessage));
  auto drop = store_.open_maildrop(kAlice);
  ASSERT_TRUE(drop);
  int fd = (*drop)->open_message_cached(0);
  ASSERT_GE(fd, 0);
  char buf[64] = {};
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "Subject: c\n\ncached\n");
  EXPECT_EQ((*drop)->open_message_cached(2), -1);
  fs::remove((*drop)->entries()[1].path);
  EXPECT_EQ((*drop)->open_message_cached(1), -1);
  EXPECT_FALSE((*drop)->open_message(1));
}

TEST_F(MaildirTest, DeliveryWhileMaildropOpenIsNotInSnapshot) {
  ASSERT_TRUE(store_.deliver({kAlice}, kMessage));
  auto drop = store_.open_maildrop(kAlice);
  ASSERT_TRUE(drop);
  ASSERT_TRUE(store_.deliver({kAlice}, kMessage));  // not blocked by the lock
  EXPECT_EQ((*drop)->entries().size(), 1u);
  ASSERT_TRUE((*drop)->commit({true}, {false}));
  EXPECT_EQ(new_of(kAlice).size(), 1u);  // the later message is untouched
}

TEST_F(MaildirTest, CleanupTmpRemovesOnlyStaleFiles) {
  ASSERT_TRUE(store_.deliver({kAlice}, kMessage));
  std::string stale = box(kAlice) + "/tmp/stale", fresh = box(kAlice) + "/tmp/fresh";
  std::ofstream(stale) << "x";
  std::ofstream(fresh) << "y";
  auto old = fs::file_time_type::clock::now() - std::chrono::hours(37);
  fs::last_write_time(stale, old);
  auto n = store_.cleanup_tmp();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_EQ(new_of(kAlice).size(), 1u);
  MaildirStore empty(tmp_.path() + "/nothing-here");
  EXPECT_EQ(*empty.cleanup_tmp(), 0u);
}

}  // namespace
}  // namespace tegami

namespace tegami {
namespace {

// Issue 13: a delivery written as a stream is stored like deliver() stores
// it (same bytes, sizes in the names, one link per mailbox); one dropped
// before commit() leaves nothing in tmp/ or new/.
TEST_F(MaildirTest, StreamedDeliveryInPieces) {
  auto d = store_.begin_delivery({kAlice, kBob});
  ASSERT_TRUE(d) << d.error().message;
  for (std::size_t i = 0; i < kOnDisk.size(); i += 5)
    ASSERT_TRUE((*d)->append(std::string_view(kOnDisk).substr(i, 5)));
  EXPECT_TRUE(new_of(kAlice).empty());  // nothing visible before commit
  ASSERT_TRUE((*d)->commit());
  for (const auto& b : {kAlice, kBob}) {
    auto files = new_of(b);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(slurp(files[0]), kOnDisk);
    const std::string name = files[0].substr(files[0].rfind('/') + 1);
    EXPECT_NE(
        name.find(",S=" + std::to_string(kOnDisk.size()) + ",W=" + std::to_string(kMessage.size())),
        std::string::npos)
        << name;
    EXPECT_TRUE(tmp_of(b).empty());
  }
}

TEST_F(MaildirTest, AbandonedDeliveryLeavesNothing) {
  {
    auto d = store_.begin_delivery({kAlice});
    ASSERT_TRUE(d);
    ASSERT_TRUE((*d)->append(std::string(200000, 'y')));
    // Written unnamed (O_TMPFILE, issue 16: ext4 and tmpfs have it): no
    // tmp/ entry to create, remove, or leave behind after a crash.
    EXPECT_TRUE(tmp_of(kAlice).empty());
  }
  EXPECT_TRUE(tmp_of(kAlice).empty());
  EXPECT_TRUE(new_of(kAlice).empty());
}

}  // namespace
}  // namespace tegami
