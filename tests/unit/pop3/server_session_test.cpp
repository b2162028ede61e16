#include "proto/pop3/server_session.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "fake_driver.hpp"

namespace tegami::pop3 {
namespace {

using testing::FakeDriver;

Config test_config() {
  Config c;
  c.session_id = "t1";
  c.apop_timestamp = std::string(testing::kRfcTimestamp);
  return c;
}

// The "S:" lines a dialogue produced, one string.
std::string server_lines(const std::string& log) {
  std::string out;
  std::size_t pos = 0;
  while (pos < log.size()) {
    const std::size_t nl = log.find('\n', pos);
    const std::string line = log.substr(pos, nl - pos);
    if (line.rfind("C", 0) != 0) out += line + "\n";
    pos = nl + 1;
  }
  return out;
}

// The first line of the last Reply.
std::string last_reply(const FakeDriver& d) {
  for (auto it = d.actions().rbegin(); it != d.actions().rend(); ++it) {
    if (const auto* r = std::get_if<Reply>(&*it)) return r->text.substr(0, r->text.find("\r\n"));
  }
  return "";
}

struct StateCase {
  std::string name;
  std::vector<std::string> before;  // lines sent first
  std::string line;                 // the command under test
  std::string reply;                // expected first line of its reply (prefix)
  State state;                      // expected state afterwards
};

TEST(Pop3ServerSession, CommandTable) {
  const std::vector<std::string> login = {"USER alice", "PASS secret"};
  const std::vector<StateCase> cases = {
      {"greeting", {}, "NOOP", "-ERR command not valid", State::Authorization},
      {"user", {}, "USER ghost", "+OK", State::Authorization},
      {"pass_first", {}, "PASS x", "-ERR USER first", State::Authorization},
      {"login",
       {"USER alice"},
       "PASS secret",
       "+OK maildrop has 4 messages (216 octets)",
       State::Transaction},
      {"bad_pass", {"USER alice"}, "PASS nope", "-ERR [AUTH]", State::Authorization},
      {"apop", {}, "APOP mrose c4c9334bac560ecc979e58001b3e22fb", "+OK", State::Transaction},
      {"apop_short", {}, "APOP mrose c4c9", "-ERR invalid APOP digest", State::Authorization},
      {"auth_cont", {}, "AUTH PLAIN", "+ ", State::AwaitSaslResponse},
      {"auth_ir", {}, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "+OK", State::Transaction},
      {"auth_cancel", {"AUTH PLAIN"}, "*", "-ERR authentication cancelled", State::Authorization},
      {"auth_unknown_mech", {}, "AUTH LOGIN", "-ERR unsupported", State::Authorization},
      {"stls_not_offered", {}, "STLS", "-ERR STLS not available", State::Authorization},
      {"in_use", {"USER bob"}, "PASS secret", "-ERR [IN-USE]", State::Authorization},
      {"temp", {"USER carol"}, "PASS secret", "-ERR [SYS/TEMP]", State::Authorization},
      {"quit_auth", {}, "QUIT", "+OK", State::Closed},
      {"stat", login, "STAT", "+OK 4 216", State::Transaction},
      {"list_n", login, "LIST 3", "+OK 3 72", State::Transaction},
      {"uidl_n", login, "UIDL 1", "+OK 1 1700000001.M1P100.mx", State::Transaction},
      {"retr", login, "RETR 1", "+OK 53 octets", State::Transaction},
      {"top", login, "TOP 1 0", "+OK top of message follows", State::Transaction},
      {"dele", login, "DELE 1", "+OK message 1 deleted", State::Transaction},
      {"rset",
       {"USER alice", "PASS secret", "DELE 1"},
       "RSET",
       "+OK maildrop has 4 messages",
       State::Transaction},
      {"noop", login, "NOOP", "+OK", State::Transaction},
      {"user_in_trans", login, "USER alice", "-ERR command not valid", State::Transaction},
      {"stls_in_trans", login, "STLS", "-ERR command not valid", State::Transaction},
      {"quit_trans", login, "QUIT", "+OK tegami POP3 server signing off (4 messages left)",
       State::Closed},
      {"retr_zero", login, "RETR 0", "-ERR no such message", State::Transaction},
      {"retr_sign", login, "RETR -1", "-ERR invalid message number", State::Transaction},
      {"retr_big", login, "RETR 99999999999", "-ERR no such message", State::Transaction},
      {"retr_junk", login, "RETR 1x", "-ERR invalid message number", State::Transaction},
      {"top_bad_count", login, "TOP 1 x", "-ERR invalid line count", State::Transaction},
      {"dele_twice",
       {"USER alice", "PASS secret", "DELE 1"},
       "DELE 1",
       "-ERR message 1 already deleted",
       State::Transaction},
      {"unknown", login, "XTND XMIT", "-ERR unknown command", State::Transaction},
  };
  for (const auto& c : cases) {
    FakeDriver d(test_config());
    d.connect();
    for (const auto& l : c.before) d.client(l + "\r\n");
    d.client(c.line + "\r\n");
    EXPECT_EQ(last_reply(d).rfind(c.reply, 0), 0u)
        << c.name << ": got \"" << last_reply(d) << "\"\n"
        << d.log();
    EXPECT_EQ(d.session().state(), c.state) << c.name;
    EXPECT_FALSE(d.session().awaiting()) << c.name;
  }
}

TEST(Pop3ServerSession, GreetingCarriesTimestampOnlyWithApop) {
  Actions a = ServerSession(test_config()).step(Connected{});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(std::get<Reply>(a[0]).text,
            "+OK tegami POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n");
  Config off = test_config();
  off.apop = false;
  EXPECT_EQ(std::get<Reply>(ServerSession(off).step(Connected{})[0]).text,
            "+OK tegami POP3 ready\r\n");
  Config broken = test_config();
  broken.apop_timestamp = "no brackets";  // APOP needs a real timestamp: turned off
  EXPECT_EQ(std::get<Reply>(ServerSession(broken).step(Connected{})[0]).text,
            "+OK tegami POP3 ready\r\n");
}

TEST(Pop3ServerSession, InputIsHeldWhileAwaitingAnAnswer) {
  ServerSession s(test_config());
  s.step(Connected{});
  Actions a = s.step(Input{"USER alice\r\nPASS secret\r\nST"});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(std::get<Reply>(a[0]).text, "+OK send PASS\r\n");
  EXPECT_EQ(std::get<VerifyUserPass>(a[1]), (VerifyUserPass{"alice", "secret"}));
  EXPECT_TRUE(s.awaiting());
  EXPECT_TRUE(s.step(Input{"AT\r\nLIST 1\r\n"}).empty());  // held, not processed
  a = s.step(AuthResult{true, "alice@example.test", Failure::BadCredentials});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(std::get<OpenMaildrop>(a[0]).account, "alice@example.test");
  MaildropOpened opened;
  opened.ok = true;
  opened.messages = {{10, "u1"}, {20, "u2"}};
  a = s.step(opened);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(std::get<LoggedIn>(a[0]), (LoggedIn{"alice@example.test", Mechanism::UserPass}));
  EXPECT_EQ(std::get<Reply>(a[1]).text, "+OK maildrop has 2 messages (30 octets)\r\n");
  EXPECT_EQ(std::get<Reply>(a[2]).text, "+OK 2 30\r\n");  // the held STAT
  EXPECT_EQ(std::get<Reply>(a[3]).text, "+OK 1 10\r\n");  // the held LIST 1
  EXPECT_EQ(s.state(), State::Transaction);
  EXPECT_FALSE(s.awaiting());
}

TEST(Pop3ServerSession, RetrWaitsForTheDataAndFormatsIt) {
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"USER alice\r\nPASS secret\r\n"});
  s.step(AuthResult{true, "alice@example.test", Failure::BadCredentials});
  MaildropOpened opened;
  opened.ok = true;
  opened.messages = {{9, "u1"}};
  s.step(opened);
  Actions a = s.step(Input{"RETR 1\r\nNOOP\r\n"});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(std::get<ReadMessage>(a[0]).index, 0u);
  // An answer for another message is a driver bug: ignored, still waiting.
  EXPECT_TRUE(s.step(MessageData{5, true}).empty());
  EXPECT_TRUE(s.awaiting());
  a = s.step(MessageData{0, true});
  ASSERT_EQ(a.size(), 3u);
  // The size LIST gave; the message itself is streamed by the driver.
  EXPECT_EQ(std::get<Reply>(a[0]).text, "+OK 9 octets\r\n");
  EXPECT_EQ(std::get<SendMessage>(a[1]), (SendMessage{0, std::nullopt}));
  EXPECT_EQ(std::get<Reply>(a[2]).text, "+OK\r\n");
  EXPECT_EQ(s.stats().retrieved, 1u);
}

TEST(Pop3ServerSession, UnexpectedEventsAreIgnored) {
  ServerSession s(test_config());
  s.step(Connected{});
  EXPECT_TRUE(s.step(AuthResult{true, "x", Failure::BadCredentials}).empty());
  EXPECT_TRUE(s.step(MaildropOpened{}).empty());
  EXPECT_TRUE(s.step(MessageData{0, true}).empty());
  EXPECT_TRUE(s.step(UpdateDone{true}).empty());
  EXPECT_TRUE(s.step(TlsStarted{true}).empty());
  EXPECT_TRUE(s.step(Connected{}).empty());  // greets once
  EXPECT_EQ(s.state(), State::Authorization);
  EXPECT_EQ(std::get<Reply>(s.step(Input{"STAT\r\n"})[0]).text,
            "-ERR command not valid in this state\r\n");
}

TEST(Pop3ServerSession, ClosedSessionDoesNothing) {
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"QUIT\r\n"});
  EXPECT_EQ(s.state(), State::Closed);
  EXPECT_TRUE(s.step(Input{"USER alice\r\n"}).empty());
  EXPECT_TRUE(s.step(Timeout{}).empty());
  EXPECT_TRUE(s.step(Connected{}).empty());
}

TEST(Pop3ServerSession, TimeoutClosesSilentlyWithoutUpdate) {
  FakeDriver d(test_config());
  d.connect();
  d.client("USER alice\r\nPASS secret\r\nDELE 1\r\n");
  const std::size_t before = d.actions().size();
  d.timeout();
  ASSERT_EQ(d.actions().size(), before + 1);
  EXPECT_TRUE(std::holds_alternative<Close>(d.actions().back()));
  EXPECT_EQ(d.commits(), 0u);
  EXPECT_EQ(d.session().state(), State::Closed);
}

TEST(Pop3ServerSession, QuitCommitsFlagsAndCountsStats) {
  FakeDriver d(test_config());
  d.connect();
  d.client(
      "USER alice\r\nPASS secret\r\nRETR 2\r\nTOP 1 1\r\nRETR 2\r\nDELE 4\r\nDELE 2\r\nQUIT\r\n");
  ASSERT_EQ(d.commits(), 1u);
  EXPECT_EQ(d.last_commit().deleted, (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(d.last_commit().retrieved, (std::vector<bool>{false, true, false, false}));
  const SessionStats& st = d.session().stats();
  EXPECT_EQ(st.account, "alice@example.test");
  EXPECT_EQ(st.mechanism, Mechanism::UserPass);
  EXPECT_EQ(st.messages, 4u);
  EXPECT_EQ(st.retrieved, 1u);
  EXPECT_EQ(st.deleted, 2u);
  EXPECT_TRUE(st.committed);
  EXPECT_TRUE(d.closed());
}

TEST(Pop3ServerSession, ThreeBadCommandsBeforeLoginDrop) {
  FakeDriver d(test_config());
  d.connect();
  d.client("FOO\r\n");
  d.client("\r\n");
  EXPECT_FALSE(d.closed());
  d.client("RETR 1\r\n");
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(last_reply(d), "-ERR too many bad commands, closing connection");
  EXPECT_EQ(d.session().stats().bad_commands, 3u);
}

// Issue 14: CAPA/USER (valid, never "bad") before login kept a slot for
// ever, each resetting the idle timer. Every command in AUTHORIZATION counts.
TEST(Pop3ServerSession, CommandsBeforeLoginAreLimited) {
  EXPECT_EQ(test_config().max_commands_before_login, 100u);
  for (bool pipelined : {false, true}) {
    FakeDriver d(test_config());
    d.connect();
    std::string all;
    for (int i = 0; i < 150; ++i) all += i % 2 == 0 ? "CAPA\r\n" : "USER ghost\r\n";
    if (pipelined) {
      d.client(all);
    } else {
      for (int i = 0; i < 150 && !d.closed(); ++i)
        d.client(i % 2 == 0 ? "CAPA\r\n" : "USER ghost\r\n");
    }
    EXPECT_TRUE(d.closed());
    EXPECT_EQ(last_reply(d), "-ERR too many commands without logging in, closing connection");
    EXPECT_EQ(d.session().stats().commands_before_login, 101u);
    std::size_t answered = 0;
    for (const auto& a : d.actions())
      if (const auto* r = std::get_if<Reply>(&a); r && r->text.rfind("+OK", 0) == 0) ++answered;
    EXPECT_EQ(answered, 101u);  // the greeting and 100 commands
  }
}

TEST(Pop3ServerSession, CommandLimitStopsAtLoginAndComesFromConfig) {
  Config c = test_config();
  c.max_commands_before_login = 4;
  FakeDriver d(c);
  d.connect();
  d.client("CAPA\r\nUSER x\r\nUSER alice\r\nPASS secret\r\n");
  EXPECT_FALSE(d.closed());
  EXPECT_EQ(d.session().state(), State::Transaction);
  for (int i = 0; i < 10; ++i) d.client("NOOP\r\n");  // after login: no such limit
  EXPECT_FALSE(d.closed());
  FakeDriver e(c);
  e.connect();
  e.client("CAPA\r\nUSER x\r\nCAPA\r\nUSER alice\r\n");
  EXPECT_FALSE(e.closed());
  e.client("PASS secret\r\n");  // the fifth: too late
  EXPECT_TRUE(e.closed());
  EXPECT_EQ(e.session().stats().account, "");
}

TEST(Pop3ServerSession, ErrorFloodAfterLoginDrops) {
  FakeDriver d(test_config());
  d.connect();
  d.client("USER alice\r\nPASS secret\r\n");
  for (std::size_t i = 0; i + 1 < kMaxBadCommands; ++i) d.client("BOGUS\r\n");
  EXPECT_FALSE(d.closed());
  d.client("BOGUS\r\n");
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(d.commits(), 0u);  // a drop is not a QUIT: nothing deleted
}

TEST(Pop3ServerSession, EndlessLineDrops) {
  FakeDriver d(test_config());
  d.connect();
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 20 && !d.closed(); ++i) d.client(chunk, false);
  EXPECT_TRUE(d.closed());
}

TEST(Pop3ServerSession, PendingInputIsBounded) {
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"USER alice\r\nPASS secret\r\n"});
  ASSERT_TRUE(s.awaiting());
  const std::string noise(kMaxPendingInput / 2, 'n');
  EXPECT_TRUE(s.step(Input{noise}).empty());
  EXPECT_TRUE(s.step(Input{noise}).empty());
  Actions a = s.step(Input{"x"});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Close>(a[0]));
}

TEST(Pop3ServerSession, StlsDropsPipelinedInputAndEnablesPlaintext) {
  Config c = test_config();
  c.stls_offered = true;
  c.plaintext_allowed = false;
  ServerSession s(c);
  s.step(Connected{});
  Actions a = s.step(Input{"STLS\r\nUSER evil\r\n"});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(std::get<Reply>(a[0]).text, "+OK begin TLS negotiation\r\n");
  EXPECT_TRUE(std::holds_alternative<StartTls>(a[1]));
  EXPECT_TRUE(s.step(Input{"PASS injected\r\n"}).empty());  // before the handshake: dropped
  EXPECT_TRUE(s.step(TlsStarted{true}).empty());
  a = s.step(Input{"PASS injected\r\n"});
  EXPECT_EQ(std::get<Reply>(a[0]).text, "-ERR USER first\r\n");
  a = s.step(Input{"USER alice\r\nPASS secret\r\n"});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(std::get<VerifyUserPass>(a[1]), (VerifyUserPass{"alice", "secret"}));
}

// RFC 2449 §5: "Capabilities available in the AUTHORIZATION state MUST be
// announced in both states." USER, SASL (RFC 2449 §6.2, §6.3) and STLS
// (RFC 2595 §4) are announced in both states although their commands are
// valid only in AUTHORIZATION (answered -ERR after login). LOGIN-DELAY and
// EXPIRE are never announced: nothing enforces them (docs/pop3.md).
TEST(Pop3ServerSession, CapaIsTheSameListBeforeAndAfterLogin) {
  for (bool plaintext : {true, false}) {
    for (bool stls : {false, true}) {
      SCOPED_TRACE(std::string("plaintext=") + (plaintext ? "on" : "off") +
                   " stls=" + (stls ? "on" : "off"));
      Config c = test_config();
      c.plaintext_allowed = plaintext;
      c.stls_offered = stls;
      ServerSession s(c);
      s.step(Connected{});
      auto capa = [&s] {
        Actions a = s.step(Input{"CAPA\r\n"});
        EXPECT_EQ(a.size(), 1u);
        return a.empty() ? std::string() : std::get<Reply>(a[0]).text;
      };
      const std::string before = capa();
      std::string want = "+OK capability list follows\r\nTOP\r\n";
      if (plaintext) want += "USER\r\n";
      want += "UIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
      if (plaintext) want += "SASL PLAIN\r\n";
      if (stls) want += "STLS\r\n";
      want += "IMPLEMENTATION tegami\r\n.\r\n";
      EXPECT_EQ(before, want);

      s.step(Input{plaintext ? "USER a\r\nPASS b\r\n"
                             : "APOP a 0123456789abcdef0123456789abcdef\r\n"});
      s.step(AuthResult{true, "a@b", Failure::BadCredentials});
      MaildropOpened opened;
      opened.ok = true;
      opened.messages = {{1, "u1"}};
      s.step(opened);
      ASSERT_EQ(s.state(), State::Transaction);
      EXPECT_EQ(capa(), before);
      EXPECT_EQ(before.find("LOGIN-DELAY"), std::string::npos);
      EXPECT_EQ(before.find("EXPIRE"), std::string::npos);
      // Announced, but their commands belong to AUTHORIZATION only.
      for (const char* cmd : {"STLS\r\n", "USER a\r\n", "AUTH PLAIN\r\n"}) {
        Actions a = s.step(Input{cmd});
        ASSERT_EQ(a.size(), 1u) << cmd;
        EXPECT_EQ(std::get<Reply>(a[0]).text, "-ERR command not valid in this state\r\n") << cmd;
      }
      EXPECT_EQ(s.state(), State::Transaction);
    }
  }
}

TEST(Pop3ServerSession, FailedHandshakeCloses) {
  Config c = test_config();
  c.stls_offered = true;
  ServerSession s(c);
  s.step(Connected{});
  s.step(Input{"STLS\r\n"});
  Actions a = s.step(TlsStarted{false});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Close>(a[0]));
}

TEST(Pop3ServerSession, LoginFailedPrecedesTheAuthReply) {
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"APOP mrose 0123456789abcdef0123456789ABCDEF\r\n"});
  Actions a = s.step(AuthResult{false, "", Failure::BadCredentials});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(std::get<LoginFailed>(a[0]), (LoginFailed{"mrose", Mechanism::Apop}));
  EXPECT_EQ(std::get<Reply>(a[1]).text, "-ERR [AUTH] authentication failed\r\n");
}

TEST(Pop3ServerSession, LockedOutNetworkIsSysTempAndClose) {
  // Issue 14: the driver refused before checking the password; the machine
  // answers [SYS/TEMP], does not report a LoginFailed, and closes.
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"USER mrose\r\n"});
  s.step(Input{"PASS tanstaaf\r\n"});
  Actions a = s.step(AuthResult{false, "", Failure::TooManyFailures});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(std::get<Reply>(a[0]).text,
            "-ERR [SYS/TEMP] too many failed logins from your network, try again later\r\n");
  EXPECT_TRUE(std::holds_alternative<Close>(a[1]));
  EXPECT_EQ(s.state(), State::Closed);
}

TEST(Pop3ServerSession, InvalidUidsAreReplacedStably) {
  auto uidl_of = [](const std::string& uid) {
    ServerSession s(test_config());
    s.step(Connected{});
    s.step(Input{"USER a\r\nPASS b\r\n"});
    s.step(AuthResult{true, "a@b", Failure::BadCredentials});
    MaildropOpened opened;
    opened.ok = true;
    opened.messages = {{1, uid}};
    s.step(opened);
    return std::get<Reply>(s.step(Input{"UIDL 1\r\n"})[0]).text;
  };
  EXPECT_EQ(uidl_of("good.uid"), "+OK 1 good.uid\r\n");
  const std::string bad = uidl_of("has space\r\n");
  EXPECT_EQ(bad, uidl_of("has space\r\n"));
  EXPECT_EQ(bad.size(), std::string("+OK 1 x0123456789abcdef\r\n").size());
  EXPECT_NE(bad, uidl_of("has space"));
  EXPECT_EQ(uidl_of(std::string(kMaxUidLength + 1, 'u')).size(), bad.size());
  EXPECT_EQ(uidl_of("").size(), bad.size());
}

// Rule 12 at the session level: the same dialogue split at every byte
// boundary produces the same server output.
TEST(Pop3ServerSession, EverySplitGivesTheSameDialogue) {
  const std::string input =
      "CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 2\r\nTOP 3 1\r\n"
      "DELE 1\r\nUIDL\r\nBOGUS\r\nRSET\r\nDELE 2\r\nQUIT\r\n";
  auto run = [&](const std::vector<std::size_t>& cuts) {
    FakeDriver d(test_config());
    d.connect();
    std::size_t start = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(input.size());
    for (std::size_t end : ends) {
      d.client(std::string_view(input).substr(start, end - start), false);
      start = end;
    }
    return server_lines(d.log());
  };
  const std::string whole = run({});
  EXPECT_NE(whole.find("A: Commit deleted=0100 retrieved=0100"), std::string::npos) << whole;
  for (std::size_t i = 1; i < input.size(); ++i) ASSERT_EQ(run({i}), whole) << "split at " << i;
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
  EXPECT_EQ(run(every), whole);
}

TEST(Pop3ServerSession, TransitionsAreLogged) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);
  {
    FakeDriver d(test_config());
    d.connect();
    d.client("AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nQUIT\r\n");
  }
  spdlog::set_default_logger(previous);
  std::string all;
  for (const auto& line : sink->last_formatted()) all += line;
  EXPECT_NE(all.find("pop3 session t1 AUTHORIZATION -> AWAIT-SASL-RESPONSE"), std::string::npos)
      << all;
  EXPECT_NE(all.find("pop3 session t1 AWAIT-SASL-RESPONSE -> AUTHORIZATION"), std::string::npos);
  EXPECT_NE(all.find("pop3 session t1 AUTHORIZATION -> TRANSACTION"), std::string::npos);
  EXPECT_NE(all.find("pop3 session t1 TRANSACTION -> UPDATE"), std::string::npos);
  EXPECT_NE(all.find("pop3 session t1 UPDATE -> CLOSED"), std::string::npos);
}

}  // namespace
}  // namespace tegami::pop3
