#include "store/spool/spool_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/spool/spool_format.hpp"
#include "temp_dir.hpp"

namespace tegami {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using testing::TempDir;
using TimePoint = std::chrono::system_clock::time_point;

const std::string kMessage =
    "Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: "
    "hi\r\n\r\n.dot\r\nbody\r\n";

QueueEntry sample(const std::string& id) {
  QueueEntry e;
  e.id = id;
  e.sender = "alice@example.test";
  e.created = TimePoint(seconds(1700000000));
  e.size = kMessage.size();
  e.eight_bit = true;
  QueueRecipient r;
  r.address = "bob@dest.test";
  r.next_attempt = TimePoint(seconds(1700000300));
  e.recipients.push_back(r);
  r.address = "\"john doe\"@dest.test";
  r.status = RecipientStatus::kFailed;
  r.attempts = 3;
  r.last_attempt = TimePoint(seconds(1700000200));
  r.status_code = "5.1.1";
  r.remote_mta = "mx.dest.test";
  r.diagnostic = "smtp; 550 5.1.1 <x>: 100% unknown\r\n\x01\xe3\x81\x82";
  r.stage = "RCPT TO";
  e.recipients.push_back(r);
  return e;
}

void expect_same(const QueueEntry& a, const QueueEntry& b) {
  EXPECT_EQ(spool::format_envelope(a), spool::format_envelope(b));
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.sender, b.sender);
  EXPECT_EQ(a.created, b.created);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.eight_bit, b.eight_bit);
  EXPECT_EQ(a.delay_warned, b.delay_warned);
  EXPECT_EQ(a.smtputf8, b.smtputf8);
  ASSERT_EQ(a.recipients.size(), b.recipients.size());
  for (std::size_t i = 0; i < a.recipients.size(); ++i) {
    const auto &x = a.recipients[i], &y = b.recipients[i];
    EXPECT_EQ(x.address, y.address);
    EXPECT_EQ(x.status, y.status);
    EXPECT_EQ(x.attempts, y.attempts);
    EXPECT_EQ(x.next_attempt, y.next_attempt);
    EXPECT_EQ(x.last_attempt, y.last_attempt);
    EXPECT_EQ(x.status_code, y.status_code);
    EXPECT_EQ(x.remote_mta, y.remote_mta);
    EXPECT_EQ(x.diagnostic, y.diagnostic);
    EXPECT_EQ(x.stage, y.stage);
    EXPECT_EQ(x.notify, y.notify);
    EXPECT_EQ(x.orcpt, y.orcpt);
    EXPECT_EQ(x.relayed_dsn, y.relayed_dsn);
  }
  EXPECT_EQ(a.ret, b.ret);
  EXPECT_EQ(a.envid, b.envid);
  EXPECT_EQ(a.double_bounce, b.double_bounce);
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// ---- the envelope format ----

TEST(SpoolFormat, RoundTrip) {
  auto e = sample("0123456789ABCDEF");
  auto text = spool::format_envelope(e);
  EXPECT_EQ(text.rfind("tegami-queue 1\n", 0), 0u);
  EXPECT_NE(text.find("diagnostic smtp; 550 5.1.1 <x>: 100%25 unknown%0D%0A%01%E3%81%82\n"),
            std::string::npos)
      << text;
  auto back = spool::parse_envelope(text);
  ASSERT_TRUE(back) << back.error().message;
  expect_same(e, *back);
}

// Issue 12: "stage" is optional — written only when set, absent = empty — so
// envelopes written before it existed still parse.
TEST(SpoolFormat, StageIsOptional) {
  auto e = sample("0B");
  auto text = spool::format_envelope(e);
  EXPECT_NE(text.find("diagnostic smtp; 550 5.1.1 <x>: 100%25 unknown%0D%0A%01%E3%81%82\n"
                      "stage RCPT TO\nend\n"),
            std::string::npos)
      << text;
  // The first recipient has no stage: no line for it.
  EXPECT_EQ(text.find("stage"), text.rfind("stage")) << text;
  std::string old_format = text;
  old_format.erase(old_format.find("stage RCPT TO\n"), std::string("stage RCPT TO\n").size());
  auto back = spool::parse_envelope(old_format);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->recipients[1].stage, "");
  EXPECT_EQ(back->recipients[1].diagnostic, e.recipients[1].diagnostic);
  // Still strict: twice is an error, and it is a recipient key.
  auto twice = text;
  twice.replace(twice.find("stage RCPT TO\n"), 0, "stage DATA\n");
  EXPECT_FALSE(spool::parse_envelope(twice));
  auto in_header = text;
  in_header.replace(in_header.find("size "), 0, "stage DATA\n");
  EXPECT_FALSE(spool::parse_envelope(in_header));
}

TEST(SpoolFormat, NullSenderRoundTrip) {
  auto e = sample("AB");
  e.sender = "";
  e.delay_warned = true;
  auto back = spool::parse_envelope(spool::format_envelope(e));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->null_sender());
  EXPECT_TRUE(back->delay_warned);
}

TEST(SpoolFormat, SmtpUtf8RoundTrip) {
  // RFC 6531: the envelope records that the message came with SMTPUTF8;
  // UTF-8 addresses are %XX-escaped like every other 8-bit byte.
  auto e = sample("5A");
  e.smtputf8 = true;
  e.sender = "j\xc3\xb6rg@xn--r8jz45g.xn--zckzah";
  e.recipients[0].address = "\xe3\x81\x82@dest.test";
  auto text = spool::format_envelope(e);
  EXPECT_NE(text.find("\nsmtputf8 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nsender j%C3%B6rg@xn--r8jz45g.xn--zckzah\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nrcpt %E3%81%82@dest.test\n"), std::string::npos) << text;
  auto back = spool::parse_envelope(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->smtputf8);
  expect_same(e, *back);
}

TEST(SpoolFormat, EnvelopesWithoutSmtpUtf8KeyStillRead) {
  // An envelope written before the key existed (and every ASCII one now:
  // the key is only written when set) reads as smtputf8 = false.
  auto e = sample("5B");
  auto text = spool::format_envelope(e);
  EXPECT_EQ(text.find("smtputf8"), std::string::npos) << text;
  auto back = spool::parse_envelope(text);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->smtputf8);
  // Explicit 0 reads; a bad value, or the key twice, is refused.
  std::string zero = text;
  zero.insert(zero.find("rcpt "), "smtputf8 0\n");
  ASSERT_TRUE(spool::parse_envelope(zero));
  std::string bad = text;
  bad.insert(bad.find("rcpt "), "smtputf8 yes\n");
  EXPECT_FALSE(spool::parse_envelope(bad));
  std::string twice = text;
  twice.insert(twice.find("rcpt "), "smtputf8 1\nsmtputf8 1\n");
  EXPECT_FALSE(spool::parse_envelope(twice));
}

// Issue 15 (RFC 3461): RET, ENVID, NOTIFY, ORCPT and the DSN markers round
// trip; written only when set, so an envelope of an older version (without
// the keys) still reads, with the defaults.
TEST(SpoolFormat, DsnFieldsRoundTrip) {
  auto e = sample("6C");
  e.ret = mail::DsnRet::kFull;
  e.envid = "QQ 314159 100%";
  e.double_bounce = true;
  e.recipients[0].notify.bits = mail::DsnNotify::kSuccess | mail::DsnNotify::kDelay;
  e.recipients[0].orcpt = {"rfc822", "Bob+x@dest.test"};
  e.recipients[0].status = RecipientStatus::kDelivered;
  e.recipients[0].relayed_dsn = true;
  e.recipients[1].notify.bits = mail::DsnNotify::kNever;
  auto text = spool::format_envelope(e);
  for (const char* want : {"ret FULL\n", "envid QQ 314159 100%25\n", "double-bounce 1\n",
                           "notify SUCCESS,DELAY\norcpt rfc822;Bob+x@dest.test\nrelayed-dsn 1\n",
                           "notify NEVER\nend\n"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
  auto back = spool::parse_envelope(text);
  ASSERT_TRUE(back) << back.error().message;
  expect_same(e, *back);

  // Without DSN parameters none of the keys is written ...
  auto plain = sample("6D");
  auto old = spool::format_envelope(plain);
  for (const char* key : {"ret ", "envid ", "double-bounce", "notify ", "orcpt ", "relayed-dsn"})
    EXPECT_EQ(old.find(key), std::string::npos) << key << "\n" << old;
  // ... and such an envelope (as every older version wrote) reads with the defaults.
  auto read = spool::parse_envelope(old);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->ret, mail::DsnRet::kUnspecified);
  EXPECT_EQ(read->envid, "");
  EXPECT_FALSE(read->double_bounce);
  for (const auto& r : read->recipients) {
    EXPECT_FALSE(r.notify.given());
    EXPECT_TRUE(r.notify.failure());
    EXPECT_FALSE(r.orcpt.given());
    EXPECT_FALSE(r.relayed_dsn);
  }
  // A literal envelope of the previous format, written by hand.
  const std::string v1 =
      "tegami-queue 1\nid 0A\nsender a@example.test\ncreated 1700000000\nsize 10\n"
      "eight-bit 0\ndelay-warned 0\nrcpt b@dest.test\nstatus pending\nattempts 0\n"
      "next-attempt 1700000000\nlast-attempt 0\nstatus-code \nremote-mta \ndiagnostic \nend\n";
  auto lit = spool::parse_envelope(v1);
  ASSERT_TRUE(lit) << lit.error().message;
  EXPECT_FALSE(lit->recipients[0].notify.given());

  // Bad values are refused, never half-read.
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"ret FULL\n", "ret MOST\n"},
           {"notify SUCCESS,DELAY\n", "notify NEVER,DELAY\n"},
           {"orcpt rfc822;Bob+x@dest.test\n", "orcpt rfc822\n"},
           {"relayed-dsn 1\n", "relayed-dsn yes\n"},
           {"double-bounce 1\n", "double-bounce 2\n"},
           {"envid QQ 314159 100%25\n", "envid \n"},
       }) {
    std::string bad = text;
    auto at = bad.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    bad.replace(at, from.size(), to);
    EXPECT_FALSE(spool::parse_envelope(bad)) << to;
  }
}

TEST(SpoolFormat, EscapeTable) {
  struct Case {
    std::string raw, escaped;
  } cases[] = {
      {"", ""},
      {"plain text", "plain text"},
      {"50%", "50%25"},
      {"a\r\nb", "a%0D%0Ab"},
      {std::string("\0x", 2), "%00x"},
      {"\x7f\xff", "%7F%FF"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(spool::escape_value(c.raw), c.escaped);
    auto back = spool::unescape_value(c.escaped);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, c.raw);
  }
  for (const char* badv : {"%", "%4", "%G0", "%0g", "a\tb", "\xe3"})
    EXPECT_FALSE(spool::unescape_value(badv)) << badv;
}

TEST(SpoolFormat, RejectsDamagedEnvelopes) {
  const std::string good = spool::format_envelope(sample("0A"));
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    auto p = s.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    return s.replace(p, from.size(), to);
  };
  struct Case {
    const char* name;
    std::string text;
  } cases[] = {
      {"empty", ""},
      {"truncated mid-line", good.substr(0, good.size() - 2)},
      {"no end line", good.substr(0, good.size() - 4)},
      {"half written", good.substr(0, good.size() / 2)},
      {"wrong magic", replace("tegami-queue 1", "tegami-queue 2")},
      {"unknown key", replace("size ", "colour blue\nsize ")},
      {"repeated key", replace("size ", "size 1\nsize ")},
      {"bad number", replace("attempts 3", "attempts 3x")},
      {"negative count", replace("attempts 3", "attempts -3")},
      {"bad status", replace("status pending", "status lost")},
      {"bad flag", replace("eight-bit 1", "eight-bit yes")},
      {"header key in rcpt", replace("attempts 3", "size 3")},
      {"rcpt key in header", replace("size ", "attempts 1\nsize ")},
      {"bad id", replace("id 0A", "id ../x")},
      {"text after end", good + "extra\n"},
      {"key without value", replace("eight-bit 1", "eight-bit")},
  };
  for (const auto& c : cases) EXPECT_FALSE(spool::parse_envelope(c.text)) << c.name;
  // Without recipients an envelope is useless.
  auto e = sample("0A");
  e.recipients.clear();
  EXPECT_FALSE(spool::parse_envelope(spool::format_envelope(e)));
}

// ---- the store ----

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = store_.recover();
    ASSERT_TRUE(r) << r.error().message;
  }
  std::string q(const std::string& sub) const { return tmp_.path() + "/queue/" + sub; }

  TempDir tmp_;
  SpoolStore store_{tmp_.path() + "/queue"};
};

TEST_F(SpoolTest, EnqueueLoadReadList) {
  auto e = sample("00000000000000A1");
  ASSERT_TRUE(store_.enqueue(e, kMessage));
  ASSERT_TRUE(store_.enqueue(sample("00000000000000A0"), kMessage));
  auto ids = store_.list();
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, (std::vector<std::string>{"00000000000000A0", "00000000000000A1"}));
  auto back = store_.load(e.id);
  ASSERT_TRUE(back) << back.error().message;
  expect_same(e, *back);
  auto msg = store_.read_message(e.id);
  ASSERT_TRUE(msg);
  EXPECT_EQ(*msg, kMessage);  // stored exactly: CRLF, no dot-stuffing
  EXPECT_TRUE(files_in(q("tmp")).empty());
}

TEST_F(SpoolTest, DuplicateIdIsRefusedAndKeepsTheFirst) {
  auto e = sample("0B");
  ASSERT_TRUE(store_.enqueue(e, kMessage));
  auto other = sample("0B");
  other.sender = "mallory@example.test";
  EXPECT_FALSE(store_.enqueue(other, "other message\r\n"));
  EXPECT_EQ(store_.load("0B")->sender, "alice@example.test");
  EXPECT_EQ(*store_.read_message("0B"), kMessage);
  EXPECT_TRUE(files_in(q("tmp")).empty());
}

TEST_F(SpoolTest, InvalidIdsNeverTouchTheDisk) {
  for (const char* id : {"", "../env/x", "a/b", "a.b", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    auto e = sample(id);
    auto r = store_.enqueue(e, kMessage);
    ASSERT_FALSE(r) << id;
    EXPECT_FALSE(r.error().temporary);
    EXPECT_FALSE(store_.load(id));
    EXPECT_FALSE(store_.read_message(id));
    EXPECT_FALSE(store_.update(e));
    EXPECT_FALSE(store_.remove(id));
  }
  EXPECT_TRUE(files_in(q("env")).empty());
}

TEST_F(SpoolTest, UpdateReplacesTheEnvelope) {
  auto e = sample("0C");
  ASSERT_TRUE(store_.enqueue(e, kMessage));
  e.recipients[0].status = RecipientStatus::kDelivered;
  e.recipients[0].diagnostic = "smtp; 250 2.0.0 Ok";
  e.delay_warned = true;
  auto u = store_.update(e);
  ASSERT_TRUE(u);
  EXPECT_TRUE(*u);
  expect_same(e, *store_.load("0C"));
  EXPECT_TRUE(files_in(q("tmp")).empty());
}

TEST_F(SpoolTest, UpdateAfterRemoveDoesNotResurrect) {
  auto e = sample("0D");
  ASSERT_TRUE(store_.enqueue(e, kMessage));
  auto r = store_.remove("0D");
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  auto u = store_.update(e);
  ASSERT_TRUE(u);
  EXPECT_FALSE(*u);
  auto l = store_.load("0D");
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().enhanced, "ENOENT");
  EXPECT_EQ(store_.read_message("0D").error().enhanced, "ENOENT");
  EXPECT_FALSE(*store_.remove("0D"));
  EXPECT_TRUE(files_in(q("env")).empty());
  EXPECT_TRUE(files_in(q("msg")).empty());
  EXPECT_TRUE(files_in(q("tmp")).empty());
}

TEST_F(SpoolTest, ListOfAMissingSpoolIsEmpty) {
  SpoolStore none(tmp_.path() + "/nothing");
  auto ids = none.list();
  ASSERT_TRUE(ids);
  EXPECT_TRUE(ids->empty());
  EXPECT_FALSE(fs::exists(tmp_.path() + "/nothing"));  // reading never creates
}

TEST_F(SpoolTest, RecoveryDiscardsPartialFilesAndKeepsEntries) {
  ASSERT_TRUE(store_.enqueue(sample("1A"), kMessage));
  ASSERT_TRUE(store_.enqueue(sample("1B"), kMessage));
  write(q("tmp/1C.msg.1.0"), "half a mess");                 // crash while writing a message
  write(q("msg/1D"), kMessage);                              // crash before the envelope
  write(q("env/1E"), spool::format_envelope(sample("1E")));  // envelope without message
  write(q("env/1F"), spool::format_envelope(sample("1F")).substr(0, 40));  // damaged
  write(q("msg/1F"), kMessage);
  write(q("env/1G"), spool::format_envelope(sample("1H")));  // names another id
  write(q("msg/1G"), kMessage);

  auto rec = store_.recover();
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->tmp_removed, 1u);
  EXPECT_EQ(rec->orphans_removed, 1u);
  EXPECT_EQ(rec->corrupt, 3u);
  EXPECT_EQ(rec->entries, 2u);
  EXPECT_EQ(*store_.list(), (std::vector<std::string>{"1A", "1B"}));
  EXPECT_EQ(files_in(q("msg")), (std::vector<std::string>{"1A", "1B"}));
  EXPECT_TRUE(files_in(q("tmp")).empty());
  EXPECT_EQ(files_in(q("corrupt")),
            (std::vector<std::string>{"1E", "1F", "1F.msg", "1G", "1G.msg"}));
  EXPECT_EQ(*store_.read_message("1A"), kMessage);

  auto again = store_.recover();  // idempotent
  ASSERT_TRUE(again);
  EXPECT_EQ(again->tmp_removed + again->orphans_removed + again->corrupt, 0u);
  EXPECT_EQ(again->entries, 2u);
}

TEST_F(SpoolTest, EnqueueFailsCleanlyWhenTheEnvelopeCannotBeCommitted) {
  // env/ replaced by a plain file: the rename fails (ENOTDIR), even for root.
  fs::remove(q("env"));
  write(q("env"), "not a directory");
  auto r = store_.enqueue(sample("2A"), kMessage);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary);
  EXPECT_EQ(r.error().smtp_code, 451);
  EXPECT_TRUE(files_in(q("msg")).empty());  // rolled back
  EXPECT_TRUE(files_in(q("tmp")).empty());
}

// kill -9 in the middle of a stream of enqueues and updates: after
// recovery, every entry whose enqueue returned is there and whole, every
// envelope parses, and nothing partial is left.
TEST_F(SpoolTest, KillDuringEnqueueLosesNothingAcknowledged) {
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    SpoolStore child(tmp_.path() + "/queue");
    std::string big(200000, 'x');
    for (int i = 0;; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "%08X", i);
      auto e = sample(id);
      std::string msg = kMessage + big + "\r\n";
      e.size = msg.size();
      if (!child.enqueue(e, msg)) ::_exit(2);
      e.recipients[0].attempts = 7;
      if (!child.update(e)) ::_exit(3);
      // Acknowledge only after enqueue returned (as the SMTP server does).
      if (::write(pipefd[1], id, 8) != 8) ::_exit(4);
    }
  }
  ::close(pipefd[1]);
  std::vector<std::string> acked;
  char buf[8];
  while (acked.size() < 20 && ::read(pipefd[0], buf, 8) == 8) acked.emplace_back(buf, 8);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  while (::read(pipefd[0], buf, 8) == 8) acked.emplace_back(buf, 8);
  ::close(pipefd[0]);
  ASSERT_GE(acked.size(), 20u);

  auto rec = store_.recover();
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->corrupt, 0u);
  auto ids = store_.list();
  ASSERT_TRUE(ids);
  for (const auto& id : acked)
    EXPECT_TRUE(std::find(ids->begin(), ids->end(), id) != ids->end()) << id << " was lost";
  for (const auto& id : *ids) {
    auto e = store_.load(id);
    ASSERT_TRUE(e) << id;
    auto m = store_.read_message(id);
    ASSERT_TRUE(m) << id;
    EXPECT_EQ(m->size(), e->size) << id;
  }
  EXPECT_TRUE(files_in(q("tmp")).empty());
}

}  // namespace
}  // namespace tegami

namespace tegami {
namespace {

// Issue 13: the streaming form. A message appended in small pieces is stored
// exactly as enqueue() stores it; a writer dropped without commit() leaves
// nothing in tmp/, msg/ or env/.
class SpoolStreamTest : public ::testing::Test {
 protected:
  std::vector<std::string> files(const std::string& sub) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(tmp_.path() + "/queue/" + sub, ec))
      out.push_back(e.path().string());
    return out;
  }
  testing::TempDir tmp_;
  SpoolStore store_{tmp_.path() + "/queue"};
};

TEST_F(SpoolStreamTest, AppendInPiecesThenCommit) {
  ASSERT_TRUE(store_.create_dirs());
  QueueEntry e;
  e.id = "00000000000000C1";
  e.sender = "alice@example.test";
  e.recipients.push_back(QueueRecipient{});
  e.recipients.back().address = "bob@dest.test";
  const std::string message = "Subject: x\r\n\r\n" + std::string(200000, 'a') + "\r\n\xe4\r\n";
  auto w = store_.begin(e.id);
  ASSERT_TRUE(w) << w.error().message;
  for (std::size_t i = 0; i < message.size(); i += 7777)
    ASSERT_TRUE((*w)->append(std::string_view(message).substr(i, 7777)));
  EXPECT_EQ((*w)->size(), message.size());
  EXPECT_TRUE((*w)->eight_bit());
  e.size = (*w)->size();
  ASSERT_TRUE(store_.commit(e, **w));
  EXPECT_EQ(*store_.read_message(e.id), message);
  EXPECT_TRUE(files("tmp").empty());
}

TEST_F(SpoolStreamTest, AbandonedWriterLeavesNothing) {
  ASSERT_TRUE(store_.create_dirs());
  {
    auto w = store_.begin("00000000000000C2");
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->append(std::string(100000, 'x')));
    EXPECT_EQ(files("tmp").size(), 1u);
  }
  EXPECT_TRUE(files("tmp").empty());
  EXPECT_TRUE(files("msg").empty());
  EXPECT_TRUE(files("env").empty());
  EXPECT_FALSE(store_.begin("../x"));
}

}  // namespace
}  // namespace tegami
