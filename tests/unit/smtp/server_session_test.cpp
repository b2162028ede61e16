#include "proto/smtp/server_session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_driver.hpp"
#include "split_feed.hpp"

namespace tegami::smtp {
namespace {

using testing::FakeDriver;

SessionConfig test_config() {
  SessionConfig c;
  c.hostname = "mx.example.test";
  c.session_id = "u1";
  return c;
}

std::string replies(const Actions& actions) {
  std::string out;
  for (const auto& a : actions) {
    if (const auto* r = std::get_if<Reply>(&a)) out += r->text;
  }
  return out;
}

template <class T>
std::size_t count(const Actions& actions) {
  std::size_t n = 0;
  for (const auto& a : actions) n += std::holds_alternative<T>(a) ? 1 : 0;
  return n;
}

// Feeds input that starts with MAIL: the machine asks about the sender and
// waits; the sender is accepted and the actions after that are returned.
Actions mail_accepted(ServerSession& s, std::string_view input) {
  Actions a = s.step(Input{input});
  EXPECT_EQ(count<CheckSender>(a), 1u);
  EXPECT_EQ(s.state(), State::kCheckingSender);
  EXPECT_FALSE(s.wants_input());
  return s.step(SenderChecked{true, "250 2.1.0 Ok"});
}

TEST(ServerSession, GreetsAndWaitsForRecipientVerdict) {
  ServerSession s(test_config());
  EXPECT_FALSE(s.wants_input());
  Actions a = s.step(Connected{});
  EXPECT_EQ(replies(a), "220 mx.example.test ESMTP tegami\r\n");
  EXPECT_EQ(s.state(), State::kGreeted);
  EXPECT_TRUE(s.wants_input());

  s.step(Input{"EHLO c.example\r\n"});
  a = mail_accepted(s, "MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\nNOOP\r\n");
  // MAIL answered once the sender is accepted, then the machine stops at
  // RCPT: NOOP is not answered yet.
  EXPECT_EQ(replies(a), "250 2.1.0 Ok\r\n");
  ASSERT_EQ(count<CheckRecipient>(a), 1u);
  EXPECT_EQ(std::get<CheckRecipient>(a.back()).recipient.to_path(), "<alice@example.test>");
  EXPECT_EQ(std::get<CheckRecipient>(a.back()).sender.to_path(), "<a@example.net>");
  EXPECT_EQ(s.state(), State::kCheckingRecipient);
  EXPECT_FALSE(s.wants_input());

  a = s.step(
      RecipientChecked{true, "250 2.1.5 Ok", {Destination::mailbox("example.test", "alice")}});
  EXPECT_EQ(replies(a), "250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(s.state(), State::kRcpt);
  EXPECT_TRUE(s.wants_input());
}

TEST(ServerSession, InputWhileWaitingIsKeptInOrder) {
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"EHLO c.example\r\nMAIL FROM:<a@example.net>\r\n"});
  // EHLO ends a group: that was a synchronization error.
  EXPECT_EQ(s.state(), State::kClosed);

  ServerSession t(test_config());
  t.step(Connected{});
  t.step(Input{"EHLO c.example\r\n"});
  mail_accepted(t, "MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.test>\r\n");
  ASSERT_EQ(t.state(), State::kCheckingRecipient);
  // A driver that reads anyway: the bytes wait their turn.
  Actions a = t.step(Input{"RSET\r\n"});
  EXPECT_TRUE(a.empty());
  a = t.step(RecipientChecked{false, "550 5.1.1 <bob@example.test>: User unknown", {}});
  EXPECT_EQ(replies(a), "550 5.1.1 <bob@example.test>: User unknown\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(t.state(), State::kReady);
}

TEST(ServerSession, PendingInputIsBounded) {
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"EHLO c.example\r\n"});
  mail_accepted(s, "MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.test>\r\n");
  std::string chunk(64 * 1024, 'x');
  Actions a;
  for (int i = 0; i < 20 && s.state() != State::kClosed; ++i) a = s.step(Input{chunk});
  EXPECT_EQ(s.state(), State::kClosed);
  EXPECT_EQ(replies(a).substr(0, 10), "421 4.7.0 ");
  EXPECT_EQ(count<Close>(a), 1u);
}

TEST(ServerSession, VerdictAndErrorTextsAreSanitised) {
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"EHLO c.example\r\n"});
  mail_accepted(s, "MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.test>\r\n");
  // A verdict that says "accepted" with a failure code, and with a CR LF inside.
  Actions a = s.step(RecipientChecked{true, "550 no\r\n250 smuggled", {}});
  EXPECT_EQ(replies(a), "250 2.1.5 Ok\r\n");
  s.step(Input{"RCPT TO:<carol@example.test>\r\n"});
  a = s.step(RecipientChecked{false, "554 5.7.1 bad\r\nbad", {}});
  EXPECT_EQ(replies(a), "554 5.7.1 bad??bad\r\n");
  s.step(Input{"RCPT TO:<dave@example.test>\r\n"});
  a = s.step(RecipientChecked{false, "", {}});
  EXPECT_EQ(replies(a).substr(0, 10), "550 5.1.1 ");
  s.step(Input{"DATA\r\n"});
  a = s.step(Input{"x\r\n.\r\n"});
  ASSERT_EQ(count<Deliver>(a), 1u);
  // An error with a non-failure code is answered as a temporary failure.
  a = s.step(DeliveryDone{fail(Error{false, 250, "2.0.0", "odd\nerror"})});
  EXPECT_EQ(replies(a), "451 4.3.0 Error: odd?error\r\n");
  EXPECT_EQ(s.state(), State::kReady);
}

TEST(ServerSession, EventsOutOfPlaceAreIgnored) {
  ServerSession s(test_config());
  EXPECT_TRUE(s.step(RecipientChecked{true, "", {}}).empty());
  EXPECT_TRUE(s.step(DeliveryDone{std::string("Q1")}).empty());
  EXPECT_TRUE(s.step(Input{""}).empty());
  EXPECT_EQ(s.state(), State::kStart);
  s.step(Connected{});
  EXPECT_TRUE(s.step(Connected{}).empty());
  EXPECT_TRUE(s.step(DeliveryDone{std::string("Q1")}).empty());
  EXPECT_EQ(s.state(), State::kGreeted);
}

TEST(ServerSession, InputBeforeGreetingIsAnEarlyTalker) {
  ServerSession s(test_config());
  Actions a = s.step(Input{"EHLO x\r\n"});
  EXPECT_EQ(replies(a).substr(0, 10), "554 5.5.0 ");
  EXPECT_EQ(s.state(), State::kClosed);
}

TEST(ServerSession, NothingAfterClose) {
  ServerSession s(test_config());
  s.step(Connected{});
  Actions a = s.step(Input{"QUIT\r\n"});
  EXPECT_EQ(replies(a), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(count<Close>(a), 1u);
  EXPECT_TRUE(s.step(Input{"NOOP\r\n"}).empty());
  EXPECT_TRUE(s.step(Timeout{}).empty());
  EXPECT_TRUE(s.step(Shutdown{}).empty());
  EXPECT_FALSE(s.wants_input());
}

TEST(ServerSession, ErrorFloodThresholdsComeFromConfig) {
  SessionConfig c = test_config();
  c.error_delay_after = 1;
  c.error_drop_after = 3;
  c.error_delay = std::chrono::milliseconds(250);
  ServerSession s(c);
  s.step(Connected{});
  Actions a = s.step(Input{"X\r\n"});
  EXPECT_EQ(count<Delay>(a), 0u);
  a = s.step(Input{"X\r\n"});
  ASSERT_EQ(count<Delay>(a), 1u);
  EXPECT_EQ(std::get<Delay>(a[0]).duration, std::chrono::milliseconds(250));
  s.step(Input{"X\r\n"});
  a = s.step(Input{"NOOP\r\n"});
  EXPECT_EQ(replies(a).substr(0, 10), "421 4.7.0 ");
  EXPECT_EQ(s.state(), State::kClosed);
}

TEST(ServerSession, FarOverSizeDropsDuringData) {
  SessionConfig c = test_config();
  c.max_message_size = 1000;
  FakeDriver d(c);
  d.connect();
  d.client("EHLO c.example\r\n");
  d.client("MAIL FROM:<a@example.net>\r\n");
  d.client("RCPT TO:<alice@example.test>\r\n");
  d.client("DATA\r\n");
  std::string line(998, 'x');
  line += "\r\n";
  for (std::uint64_t sent = 0; sent < 2 * kMinDiscardAllowance && !d.closed();
       sent += line.size()) {
    d.client(line);
  }
  EXPECT_TRUE(d.closed());
  EXPECT_TRUE(d.delivered().empty());
  EXPECT_NE(d.log().find("S: 552 5.3.4 "), std::string::npos);
}

// CHECKLIST "SMTP: end of DATA": every smuggling sequence, whole and split at
// every byte: the smuggled transaction never becomes commands.
TEST(ServerSession, SmugglingNeverInjectsCommands) {
  using namespace std::string_literals;
  const std::vector<std::string> sequences = {
      "\n.\n",        "\n.\r\n",     "\r\n.\n",       "\r.\r",    "\r.\n",
      "\n.\r",        "\r.\r\n",     "\r\n.\r",       "\r\n.\rx", "\r\n..\r\n",
      "\r\n\0.\r\n"s, "\r\n.\r\r\n", "\r\r\n.\r\r\n",
  };
  const std::string smuggled =
      "MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
      "Subject: smuggled\r\n\r\nevil\r\n.\r\n";
  for (const auto& seq : sequences) {
    const std::string data = "Subject: real\r\n\r\nbody" + seq + smuggled;
    for (const auto& split : testing::all_splits(data)) {
      FakeDriver d(test_config());
      d.connect();
      d.client("EHLO c.example\r\n");
      d.client("MAIL FROM:<a@example.net>\r\n");
      d.client("RCPT TO:<alice@example.test>\r\n");
      d.client("DATA\r\n");
      for (auto chunk : split) d.client(chunk);
      ASSERT_LE(d.delivered().size(), 1u);
      EXPECT_EQ(d.checks(), 1u) << "a smuggled RCPT was run";
      EXPECT_EQ(d.log().find("250 2.1.0"), d.log().rfind("250 2.1.0")) << "a smuggled MAIL ran";
      if (seq.find('\0') != std::string::npos) {
        // Issue 14: a NUL fails the message at its end, the session goes on.
        EXPECT_TRUE(d.delivered().empty());
        EXPECT_FALSE(d.closed());
        EXPECT_NE(d.log().find("S: 554 5.6.0 Error: message contains a NUL octet"),
                  std::string::npos);
      } else if (d.delivered().empty()) {
        EXPECT_TRUE(d.closed());
        EXPECT_NE(d.log().find("S: 550 5.5.2 "), std::string::npos);
      } else {
        // The sequence was data: everything is inside the one message.
        EXPECT_NE(d.delivered()[0].body.find("MAIL FROM:<admin@example.test>"), std::string::npos);
        EXPECT_EQ(d.delivered()[0].recipients.size(), 1u);
      }
    }
  }
}

TEST(ServerSession, LoneDotAtEndOfStreamDeliversNothing) {
  FakeDriver d(test_config());
  d.connect();
  d.client("EHLO c.example\r\nMAIL FROM:<a@example.net>\r\n");
  EXPECT_TRUE(d.closed());  // EHLO must end its group

  FakeDriver e(test_config());
  e.connect();
  e.client("EHLO c.example\r\n");
  e.client("MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  e.client("Subject: x\r\n\r\nbody\r\n.");
  e.event(PeerClosed{});
  EXPECT_TRUE(e.delivered().empty());
  EXPECT_EQ(e.session().state(), State::kClosed);
}

TEST(ServerSession, EnvelopeCarriesTheTransaction) {
  FakeDriver d(test_config());
  d.connect();
  d.client("EHLO c.example\r\n");
  d.client(
      "MAIL FROM:<A@Example.NET> SIZE=20 BODY=8BITMIME\r\nRCPT TO:<alice@example.test>\r\n"
      "RCPT TO:<bob@example.test>\r\nDATA\r\n");
  d.client("a\r\n..b\r\n.\r\n");
  ASSERT_EQ(d.delivered().size(), 1u);
  const Envelope& env = d.delivered()[0];
  EXPECT_EQ(env.helo, "c.example");
  EXPECT_TRUE(env.esmtp);
  EXPECT_EQ(env.mail_from.to_path(), "<A@example.net>");
  ASSERT_EQ(env.recipients.size(), 2u);
  EXPECT_EQ(env.recipients[1].resolved,
            std::vector<Destination>{Destination::mailbox("example.test", "bob")});
  EXPECT_TRUE(env.eight_bit_mime);
  EXPECT_EQ(env.declared_size, 20u);
  EXPECT_EQ(env.body, "a\r\n.b\r\n");
  EXPECT_EQ(env.lines, 2u);
  EXPECT_EQ(d.session().state(), State::kReady);
}

}  // namespace
}  // namespace tegami::smtp

namespace tegami::smtp {
namespace {

TEST(ServerSession, ShutdownBeforeGreetingAnswers421) {
  ServerSession s(test_config());
  EXPECT_TRUE(s.step(Shutdown{}).empty());
  Actions a = s.step(Connected{});
  EXPECT_EQ(replies(a).substr(0, 10), "421 4.3.2 ");
  EXPECT_EQ(s.state(), State::kClosed);
}

TEST(ServerSession, ShutdownWhileCheckingRecipientWaitsForTheVerdict) {
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"EHLO c.example\r\n"});
  mail_accepted(s, "MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\n");
  EXPECT_TRUE(s.step(Shutdown{}).empty());
  Actions a = s.step(RecipientChecked{true, "250 2.1.5 Ok", {}});
  EXPECT_EQ(replies(a), "250 2.1.5 Ok\r\n421 4.3.2 mx.example.test Service shutting down\r\n");
  EXPECT_EQ(count<Close>(a), 1u);
}

// Issue 14: a session that only sends junk (NOOP, VRFY, RSET, HELP, EXPN,
// erroneous commands) holds a connection slot for ever, since each resets
// the idle timer. Past the limit: 421 4.7.0 and Close.
std::size_t count_lines(const std::string& log, std::string_view prefix) {
  std::size_t n = 0;
  for (std::size_t at = log.find(prefix); at != std::string::npos; at = log.find(prefix, at + 1))
    ++n;
  return n;
}

TEST(ServerSession, JunkCommandsAreLimitedByDefault) {
  EXPECT_EQ(test_config().junk_command_limit, 100u);
  std::string input;
  for (int i = 0; i < 250; ++i) input += "NOOP\r\nVRFY alice\r\n";
  for (bool pipelined : {true, false}) {
    FakeDriver d(test_config());
    d.connect();
    d.client("EHLO c.example\r\n");
    if (pipelined) {
      d.client(input);
    } else {
      for (int i = 0; i < 250 && !d.closed(); ++i) {
        d.client("NOOP\r\n");
        if (!d.closed()) d.client("VRFY alice\r\n");
      }
    }
    EXPECT_EQ(count_lines(d.log(), "S: 250 2.0.0 Ok\n") + count_lines(d.log(), "S: 252 2.5.0"),
              100u);
    EXPECT_NE(d.log().find("S: 421 4.7.0 mx.example.test Error: too many junk commands\nA: close"),
              std::string::npos)
        << d.log().substr(d.log().size() - 300);
    EXPECT_TRUE(d.closed());
  }
}

TEST(ServerSession, EveryKindOfJunkCounts) {
  SessionConfig c = test_config();
  c.junk_command_limit = 8;
  FakeDriver d(c);
  d.connect();
  d.client("EHLO c.example\r\n");
  // 8 junk commands: the five verbs, an unknown verb, a refused MAIL and
  // an out-of-sequence RCPT; EHLO, MAIL and RCPT that work are not junk.
  d.client("NOOP\r\nVRFY x\r\nRSET\r\nHELP\r\nEXPN list\r\nXYZZY\r\n");
  d.client("MAIL FROM:bad\r\nRCPT TO:<alice@example.test>\r\nEHLO again.example\r\n");
  EXPECT_EQ(d.session().junk_commands(), 8u);
  EXPECT_FALSE(d.closed());
  d.client("MAIL FROM:<a@example.net>\r\n");
  d.client("RCPT TO:<alice@example.test>\r\n");
  EXPECT_FALSE(d.closed()) << d.log();
  d.client("NOOP\r\n");
  EXPECT_TRUE(d.closed());
  EXPECT_NE(d.log().find("S: 421 4.7.0 mx.example.test Error: too many junk commands"),
            std::string::npos)
      << d.log();
}

TEST(ServerSession, DeliveredMessageResetsTheJunkCount) {
  SessionConfig c = test_config();
  c.junk_command_limit = 3;
  FakeDriver d(c);
  d.connect();
  d.client("EHLO c.example\r\n");
  d.client("NOOP\r\nNOOP\r\nNOOP\r\n");
  EXPECT_EQ(d.session().junk_commands(), 3u);
  d.client("MAIL FROM:<a@example.net>\r\n");
  d.client("RCPT TO:<alice@example.test>\r\n");
  d.client("DATA\r\n");
  d.client("Subject: x\r\n\r\nhi\r\n.\r\n");
  ASSERT_EQ(d.delivered().size(), 1u) << d.log();
  EXPECT_EQ(d.session().junk_commands(), 0u);
  d.client("NOOP\r\nNOOP\r\nNOOP\r\n");
  EXPECT_FALSE(d.closed());
  d.client("HELP\r\n");
  EXPECT_TRUE(d.closed());
}

// Issue 14: SCRAM-SHA-256 is offered only where PLAIN and LOGIN are (TLS or
// a plaintext network): a sniffed exchange can be attacked offline.
TEST(ServerSession, ScramFollowsThePlaintextRule) {
  struct Case {
    bool tls, plaintext;
    const char* ehlo_auth;  // the AUTH line, "" when none
  };
  for (const Case& c : {Case{false, false, ""}, Case{false, true, "AUTH SCRAM-SHA-256 PLAIN LOGIN"},
                        Case{true, false, "AUTH SCRAM-SHA-256 PLAIN LOGIN"}}) {
    SessionConfig cfg = test_config();
    cfg.submission = cfg.offer_auth = cfg.offer_scram = true;
    cfg.plaintext_auth = c.plaintext;
    if (c.tls) cfg.tls = TlsInfo{"TLSv1.3", "TLS_AES_128_GCM_SHA256"};
    ServerSession s(cfg);
    s.step(Connected{});
    std::string ehlo = replies(s.step(Input{"EHLO c.example\r\n"}));
    const std::size_t at = ehlo.find("AUTH");
    EXPECT_EQ(at == std::string::npos ? std::string() : ehlo.substr(at, ehlo.find('\r', at) - at),
              c.ehlo_auth)
        << c.tls << c.plaintext;
    std::string r = replies(s.step(Input{"AUTH SCRAM-SHA-256\r\n"}));
    if (*c.ehlo_auth == '\0') {
      EXPECT_EQ(r.substr(0, 11), "538 5.7.11 ");
      EXPECT_EQ(s.state(), State::kReady);
    } else {
      EXPECT_EQ(r, "334 \r\n");
      EXPECT_EQ(s.state(), State::kAuthenticating);
    }
  }
}

}  // namespace
}  // namespace tegami::smtp
