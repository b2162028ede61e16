// Cleanup (issue 13): one stage makes every stored copy from the stream.
#include "server/cleanup.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace tegami::server {
namespace {

struct FakeLocal : MailboxDelivery {
  std::string* out;
  bool* committed;
  explicit FakeLocal(std::string* o, bool* c) : out(o), committed(c) {}
  Result<void> append(std::string_view d) override {
    out->append(d);
    return {};
  }
  Result<void> commit() override {
    *committed = true;
    return {};
  }
};

struct FakeRemote : QueueMessageWriter {
  std::string* out;
  bool fail_after = false;
  explicit FakeRemote(std::string* o) : out(o) {}
  Result<void> append(std::string_view d) override {
    if (fail_after && out->size() > 10) return fail(Error::temp("No space left on device"));
    out->append(d);
    return {};
  }
  std::uint64_t size() const override { return out->size(); }
  bool eight_bit() const override { return false; }
};

CleanupSettings settings(bool submission = false) {
  CleanupSettings s;
  s.return_path = "<alice@example.test>";
  s.received = "from x by y id Q1; Mon, 1 Jan 2024 00:00:00 +0000";
  s.add_missing_fields = submission;
  s.message_id = "<Q1.abc@mail.example.test>";
  s.date = "Mon, 1 Jan 2024 00:00:00 +0000";
  return s;
}

const std::string kMsg =
    "Received: from a\r\n by b; Mon, 1 Jan 2024 00:00:00 +0000\r\nFrom: <alice@example.test>\r\n"
    "Subject: hi\r\n\r\nbody one\r\n\r\n.body two\r\n";

TEST(Cleanup, BothCopiesAtEverySplit) {
  for (std::size_t cut = 0; cut <= kMsg.size(); ++cut) {
    std::string local, remote;
    bool committed = false;
    Cleanup c(settings(), std::make_unique<FakeLocal>(&local, &committed),
              std::make_unique<FakeRemote>(&remote));
    c.write(std::string_view(kMsg).substr(0, cut));
    c.write(std::string_view(kMsg).substr(cut));
    ASSERT_TRUE(c.end());
    const std::string ours = "Received: " + settings().received + "\r\n";
    EXPECT_EQ(remote, ours + kMsg) << cut;
    std::string lf = "Return-Path: <alice@example.test>\n" + ours + kMsg;
    for (auto p = lf.find("\r\n"); p != std::string::npos; p = lf.find("\r\n")) lf.erase(p, 1);
    EXPECT_EQ(local, lf) << cut;
    EXPECT_EQ(c.received_count(), 1u);
    ASSERT_NE(c.header().find("From"), nullptr);
    EXPECT_EQ(c.size(), kMsg.size());
    EXPECT_TRUE(c.commit_local());
    EXPECT_TRUE(committed);
  }
}

TEST(Cleanup, SubmissionAddsMissingFieldsBelowOurReceived) {
  std::string remote;
  Cleanup c(settings(true), nullptr, std::make_unique<FakeRemote>(&remote));
  c.write("From: <alice@example.test>\r\n\r\nx\r\n");
  ASSERT_TRUE(c.end());
  EXPECT_EQ(remote, "Received: " + settings().received +
                        "\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                        "Message-ID: <Q1.abc@mail.example.test>\r\n"
                        "From: <alice@example.test>\r\n\r\nx\r\n");
  EXPECT_EQ(c.added(), "Date, Message-ID");
  // Present fields are kept, nothing added.
  std::string again;
  Cleanup d(settings(true), nullptr, std::make_unique<FakeRemote>(&again));
  d.write("Date: x\r\nmessage-id: <m@x>\r\n\r\n");
  ASSERT_TRUE(d.end());
  EXPECT_EQ(d.added(), "");
}

TEST(Cleanup, NoHeaderAllHeaderAndHugeHeader) {
  std::string a;
  Cleanup c(settings(), nullptr, std::make_unique<FakeRemote>(&a));
  c.write("\r");
  c.write("\nbody only\r\n");
  ASSERT_TRUE(c.end());
  EXPECT_EQ(a, "Received: " + settings().received + "\r\n\r\nbody only\r\n");
  EXPECT_TRUE(c.header().fields.empty());

  std::string b;
  Cleanup d(settings(), nullptr, std::make_unique<FakeRemote>(&b));
  d.write("Subject: no blank line");
  ASSERT_TRUE(d.end());
  EXPECT_EQ(b, "Received: " + settings().received + "\r\nSubject: no blank line");

  // A header block over the limit is cut there: memory stays bounded.
  std::string e;
  Cleanup h(settings(), nullptr, std::make_unique<FakeRemote>(&e));
  const std::string line = "X-Filler: " + std::string(990, 'f') + "\r\n";
  for (std::size_t n = 0; n < kMaxHeaderBlock / line.size() + 10; ++n) h.write(line);
  ASSERT_TRUE(h.end());
  EXPECT_GT(e.size(), kMaxHeaderBlock);
}

TEST(Cleanup, WriteFailureIsTemporaryAndAbandonDropsEverything) {
  std::string r;
  auto remote = std::make_unique<FakeRemote>(&r);
  remote->fail_after = true;
  Cleanup c(settings(), nullptr, std::move(remote));
  c.write("Subject: x\r\n\r\n" + std::string(100, 'y') + "\r\n");
  auto end = c.end();
  ASSERT_FALSE(end);
  EXPECT_TRUE(end.error().temporary);
  EXPECT_FALSE(c.has_remote());

  std::string l;
  bool committed = false;
  Cleanup d(settings(), std::make_unique<FakeLocal>(&l, &committed), nullptr);
  d.write("Subject: x\r\n\r\n");
  d.abandon();
  EXPECT_FALSE(d.has_local());
  EXPECT_FALSE(d.end());
}

}  // namespace
}  // namespace tegami::server
