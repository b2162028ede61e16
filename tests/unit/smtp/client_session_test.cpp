// The SMTP client state machine: scripted server replies in, commands and
// per-recipient outcomes out.
#include "proto/smtp/client_session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/smtp/data_encoder.hpp"
#include "split_feed.hpp"

namespace tegami::smtp {
namespace {

using testing::all_splits;
using testing::describe_split;

const std::string kEhloFull =
    "250-mx.dest.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250 "
    "ENHANCEDSTATUSCODES\r\n";
const std::string kEhloPlain = "250-mx.dest.test\r\n250 SIZE\r\n";

ClientMessage message(std::vector<std::string> rcpts, std::uint64_t size = 100,
                      bool eight_bit = false) {
  return ClientMessage{"alice@example.test", std::move(rcpts), size, eight_bit};
}

ClientConfig config(bool tls = false) {
  return ClientConfig{"mail.example.test", "C1", "mx.dest.test[127.0.0.1]:25", tls};
}

// Runs a session: Connected, then each chunk of server bytes; records what
// the client wrote ("<MSG>" for SendMessage, "<TLS>" for StartTls, "<CLOSE>").
struct Dialogue {
  std::string wire;
  std::vector<RecipientOutcome> outcomes;
  bool host_failed = false;
  bool closed = false;
  ClientState state = ClientState::kStart;
};

void perform(const client::Actions& actions, Dialogue& r) {
  for (const auto& a : actions) {
    if (const auto* s = std::get_if<client::Send>(&a)) r.wire += s->bytes;
    if (const auto* m = std::get_if<client::SendMessage>(&a))
      r.wire += m->bdat ? "<BDAT>" : "<MSG>";
    if (std::holds_alternative<client::StartTls>(a)) r.wire += "<TLS>";
    if (std::holds_alternative<client::Ready>(a)) r.wire += "<READY>";
    if (std::holds_alternative<client::Close>(a)) {
      EXPECT_FALSE(r.closed) << "Close twice";
      r.wire += "<CLOSE>";
      r.closed = true;
    }
  }
}

Dialogue run(ClientSession& s, const std::vector<std::string_view>& chunks) {
  Dialogue r;
  perform(s.step(client::Connected{}), r);
  for (auto c : chunks) {
    if (!s.wants_input()) break;
    perform(s.step(client::Input{c}), r);
  }
  r.outcomes = s.outcomes();
  r.host_failed = s.host_failed();
  r.state = s.state();
  return r;
}

Dialogue run(const std::vector<std::string>& rcpts, const std::string& server, ClientMessage m = {},
             ClientConfig cfg = config()) {
  if (m.recipients.empty()) m = message(rcpts);
  ClientSession s(cfg, m);
  return run(s, {server});
}

std::string results(const Dialogue& r) {
  std::string out;
  for (const auto& o : r.outcomes) {
    switch (o.result) {
      case RecipientResult::kUnknown:
        out += "?";
        break;
      case RecipientResult::kDelivered:
        out += "D";
        break;
      case RecipientResult::kTemporary:
        out += "T";
        break;
      case RecipientResult::kPermanent:
        out += "P";
        break;
    }
    out += o.status.empty() ? "" : ":" + o.status;
    out += " ";
  }
  return out;
}

TEST(ClientSession, PipelinedDelivery) {
  std::string server = "220 mx.dest.test ESMTP\r\n" + kEhloFull +
                       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <c@dest.test>: unknown\r\n"
                       "354 go ahead\r\n250 2.0.0 Ok: queued as 123\r\n221 2.0.0 Bye\r\n";
  auto r = run({"b@dest.test", "c@dest.test"}, server);
  EXPECT_EQ(r.wire,
            "EHLO mail.example.test\r\n"
            "MAIL FROM:<alice@example.test> SIZE=100\r\nRCPT TO:<b@dest.test>\r\n"
            "RCPT TO:<c@dest.test>\r\nDATA\r\n<MSG>QUIT\r\n<CLOSE>");
  EXPECT_EQ(results(r), "D:2.0.0 P:5.1.1 ");
  EXPECT_FALSE(r.host_failed);
  EXPECT_EQ(r.outcomes[0].reply, "250 2.0.0 Ok: queued as 123");
  EXPECT_EQ(r.outcomes[0].stage, "end of data");
  EXPECT_TRUE(r.outcomes[1].from_server);
  EXPECT_EQ(r.outcomes[1].reply, "550 5.1.1 <c@dest.test>: unknown");
  EXPECT_EQ(r.outcomes[1].stage, "RCPT TO");
  EXPECT_EQ(r.state, ClientState::kClosed);
}

// The same conversation cut at every byte boundary gives the same result.
TEST(ClientSession, AnySplitGivesTheSameDialogue) {
  std::string server = "220 mx.dest.test ESMTP\r\n" + kEhloFull +
                       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <c@dest.test>: unknown\r\n"
                       "354 go ahead\r\n250 2.0.0 Ok: queued as 123\r\n221 2.0.0 Bye\r\n";
  ClientSession whole(config(), message({"b@dest.test", "c@dest.test"}));
  auto expected = run(whole, {server});
  for (const auto& split : all_splits(server)) {
    ClientSession s(config(), message({"b@dest.test", "c@dest.test"}));
    auto r = run(s, split);
    EXPECT_EQ(r.wire, expected.wire) << describe_split(split);
    EXPECT_EQ(results(r), results(expected)) << describe_split(split);
  }
}

TEST(ClientSession, OneCommandAtATimeWithoutPipelining) {
  ClientSession s(config(), message({"b@dest.test", "c@dest.test"}));
  Dialogue r;
  perform(s.step(client::Connected{}), r);
  perform(s.step(client::Input{"220 hi\r\n"}), r);
  EXPECT_EQ(r.wire, "EHLO mail.example.test\r\n");
  perform(s.step(client::Input{kEhloPlain}), r);
  EXPECT_EQ(r.wire, "EHLO mail.example.test\r\nMAIL FROM:<alice@example.test> SIZE=100\r\n");
  r.wire.clear();
  perform(s.step(client::Input{"250 ok\r\n"}), r);
  EXPECT_EQ(r.wire, "RCPT TO:<b@dest.test>\r\n");
  perform(s.step(client::Input{"451 4.7.1 greylisted\r\n"}), r);
  EXPECT_EQ(r.wire, "RCPT TO:<b@dest.test>\r\nRCPT TO:<c@dest.test>\r\n");
  r.wire.clear();
  perform(s.step(client::Input{"250 ok\r\n"}), r);
  EXPECT_EQ(r.wire, "DATA\r\n");
  EXPECT_EQ(s.read_timeout(), kDataInitTimeout);
  perform(s.step(client::Input{"354 go\r\n"}), r);
  EXPECT_EQ(r.wire, "DATA\r\n<MSG>");
  EXPECT_EQ(s.read_timeout(), kDataTermTimeout);
  perform(s.step(client::Input{"250 ok\r\n221 bye\r\n"}), r);
  EXPECT_EQ(r.wire, "DATA\r\n<MSG>QUIT\r\n<CLOSE>");
  r.outcomes = s.outcomes();
  EXPECT_EQ(results(r), "T:4.7.1 D:2.0.0 ");
  EXPECT_TRUE(s.step(client::Input{"250 more\r\n"}).empty());  // closed: nothing more
}

TEST(ClientSession, HeloFallbackAndEightBitRefusedLocally) {
  auto m = message({"b@dest.test"}, 100, true);
  auto r = run({}, "220 old\r\n502 5.5.2 what?\r\n250 old.dest.test\r\n221 bye\r\n", m);
  EXPECT_EQ(r.wire, "EHLO mail.example.test\r\nHELO mail.example.test\r\nQUIT\r\n<CLOSE>");
  EXPECT_EQ(results(r), "P:5.6.3 ");
  EXPECT_FALSE(r.outcomes[0].from_server);
  EXPECT_NE(r.outcomes[0].reply.find("8BITMIME"), std::string::npos);
  EXPECT_FALSE(r.host_failed);
}

TEST(ClientSession, EightBitWithEightBitMime) {
  auto m = message({"b@dest.test"}, 100, true);
  auto r =
      run({}, "220 hi\r\n" + kEhloFull + "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n", m);
  EXPECT_NE(r.wire.find("MAIL FROM:<alice@example.test> SIZE=100 BODY=8BITMIME\r\n"),
            std::string::npos)
      << r.wire;
  EXPECT_EQ(results(r), "D:2.0.0 ");
}

// RFC 6531 §3.2/§3.4: SMTPUTF8 is passed on when offered; without it the
// message is downgraded only when nothing needs UTF-8, else 5.6.7.
const std::string kEhloUtf8 =
    "250-mx.dest.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 "
    "ENHANCEDSTATUSCODES\r\n";

TEST(ClientSession, SmtpUtf8WhenOffered) {
  ClientMessage m{"j\xc3\xb6rg@example.test", {"\xe3\x81\x82@dest.test"}, 10, true, true, true};
  auto r =
      run({}, "220 hi\r\n" + kEhloUtf8 + "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n", m);
  EXPECT_NE(r.wire.find("MAIL FROM:<j\xc3\xb6rg@example.test> BODY=8BITMIME SMTPUTF8\r\nRCPT "
                        "TO:<\xe3\x81\x82@dest.test>\r\n"),
            std::string::npos)
      << r.wire;
  EXPECT_EQ(results(r), "D:2.0.0 ");
}

// RFC 3461 §5.2.1: the DSN parameters go to a server that offers DSN (xtext,
// only those given), and nothing is added for one that does not.
TEST(ClientSession, DsnParametersOnlyWhenOffered) {
  ClientMessage m = message({"b@dest.test", "c@dest.test", "d@dest.test"});
  m.ret = mail::DsnRet::kHdrs;
  m.envid = "Q+1 x";
  m.notify = {mail::DsnNotify{mail::DsnNotify::kSuccess | mail::DsnNotify::kFailure},
              mail::DsnNotify{mail::DsnNotify::kNever}};
  m.orcpt = {mail::DsnOrcpt{"rfc822", "B+x@dest.test"}, mail::DsnOrcpt{}};
  const std::string replies =
      "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n";
  const std::string ehlo_dsn = "250-mx.dest.test\r\n250-PIPELINING\r\n250-DSN\r\n250 SIZE\r\n";
  ClientSession with(config(), m);
  auto r = run(with, {"220 hi\r\n" + ehlo_dsn + replies});
  EXPECT_TRUE(with.dsn_offered());
  EXPECT_EQ(r.wire,
            "EHLO mail.example.test\r\n"
            "MAIL FROM:<alice@example.test> SIZE=100 RET=HDRS ENVID=Q+2B1+20x\r\n"
            "RCPT TO:<b@dest.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B+2Bx@dest.test\r\n"
            "RCPT TO:<c@dest.test> NOTIFY=NEVER\r\n"
            "RCPT TO:<d@dest.test>\r\nDATA\r\n<MSG>QUIT\r\n<CLOSE>");
  EXPECT_EQ(results(r), "D:2.0.0 D:2.0.0 D:2.0.0 ");

  ClientSession without(config(), m);
  auto p = run(without, {"220 hi\r\n250-mx.dest.test\r\n250-PIPELINING\r\n250 SIZE\r\n" + replies});
  EXPECT_FALSE(without.dsn_offered());
  EXPECT_EQ(p.wire,
            "EHLO mail.example.test\r\nMAIL FROM:<alice@example.test> SIZE=100\r\n"
            "RCPT TO:<b@dest.test>\r\nRCPT TO:<c@dest.test>\r\nRCPT TO:<d@dest.test>\r\n"
            "DATA\r\n<MSG>QUIT\r\n<CLOSE>");

  // One command at a time (no PIPELINING) builds the same RCPT lines.
  ClientSession slow(config(), m);
  auto q = run(slow, {"220 hi\r\n250-mx.dest.test\r\n250 DSN\r\n", "250 ok\r\n", "250 ok\r\n"});
  EXPECT_NE(
      q.wire.find("MAIL FROM:<alice@example.test> RET=HDRS ENVID=Q+2B1+20x\r\n"
                  "RCPT TO:<b@dest.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B+2Bx@dest.test\r\n"
                  "RCPT TO:<c@dest.test> NOTIFY=NEVER\r\n"),
      std::string::npos)
      << q.wire;
}

TEST(ClientSession, SmtpUtf8DowngradedWhenNothingNeedsIt) {
  // ASCII sender and headers; one recipient with a UTF-8 local part fails
  // alone (5.6.7), the ASCII one goes out without the parameter.
  ClientMessage m{
      "alice@example.test", {"\xe3\x81\x82@dest.test", "bob@dest.test"}, 10, false, true, false};
  auto r =
      run({}, "220 hi\r\n" + kEhloFull + "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n", m);
  EXPECT_NE(
      r.wire.find("MAIL FROM:<alice@example.test> SIZE=10\r\nRCPT TO:<bob@dest.test>\r\nDATA"),
      std::string::npos)
      << r.wire;
  EXPECT_EQ(r.wire.find("SMTPUTF8"), std::string::npos) << r.wire;
  EXPECT_EQ(results(r), "P:5.6.7 D:2.0.0 ");
  EXPECT_NE(r.outcomes[0].reply.find("SMTPUTF8 is required, but was not offered"),
            std::string::npos);
}

TEST(ClientSession, SmtpUtf8RequiredButNotOfferedBounces) {
  for (bool utf8_sender : {true, false}) {
    ClientMessage m{utf8_sender ? "j\xc3\xb6rg@example.test" : "alice@example.test",
                    {"bob@dest.test"},
                    10,
                    true,
                    true,
                    !utf8_sender};
    auto r = run({}, "220 hi\r\n" + kEhloFull + "221 bye\r\n", m);
    EXPECT_EQ(r.wire, "EHLO mail.example.test\r\nQUIT\r\n<CLOSE>") << utf8_sender;
    EXPECT_EQ(results(r), "P:5.6.7 ") << utf8_sender;
    EXPECT_FALSE(r.host_failed);
  }
}

TEST(ClientSession, MalformedUtf8AddressIsNeverSent) {
  ClientMessage m{"alice@example.test", {"a\xc0\xaf@dest.test"}, 10, false, true, false};
  auto r = run({}, "220 hi\r\n" + kEhloUtf8 + "221 bye\r\n", m);
  EXPECT_EQ(r.wire.find("RCPT"), std::string::npos) << r.wire;
  EXPECT_EQ(results(r), "P:5.1.3 ");
}

TEST(ClientSession, OverTheServersSizeIsPermanent) {
  auto m = message({"b@dest.test"}, 20000);
  auto r = run({}, "220 hi\r\n" + kEhloFull + "221 bye\r\n", m);
  EXPECT_EQ(r.wire, "EHLO mail.example.test\r\nQUIT\r\n<CLOSE>");
  EXPECT_EQ(results(r), "P:5.3.4 ");
}

TEST(ClientSession, NullSender) {
  ClientMessage m{"", {"b@dest.test"}, 10, false};
  auto r = run({}, "220 hi\r\n" + kEhloPlain + "250 ok\r\n", m);
  EXPECT_NE(r.wire.find("MAIL FROM:<> SIZE=10\r\n"), std::string::npos) << r.wire;
}

TEST(ClientSession, HostFailures) {
  struct Case {
    const char* name;
    std::string server;
    std::string wire;
    std::string reply;  // the server's reply, kept exactly; "" when none
    std::string stage;
  } cases[] = {
      {"5xx greeting", "554 go away\r\n221 bye\r\n", "QUIT\r\n<CLOSE>", "554 go away", "greeting"},
      {"421 greeting", "421 4.3.2 busy\r\n", "<CLOSE>", "421 4.3.2 busy", "greeting"},
      {"4xx EHLO", "220 hi\r\n451 later\r\n221 bye\r\n",
       "EHLO mail.example.test\r\nQUIT\r\n<CLOSE>", "451 later", "EHLO"},
      {"HELO refused too", "220 hi\r\n500 no\r\n550 no\r\n221 bye\r\n",
       "EHLO mail.example.test\r\nHELO mail.example.test\r\nQUIT\r\n<CLOSE>", "550 no", "HELO"},
      {"garbage greeting", "SSH-2.0-OpenSSH\r\n", "<CLOSE>", "", "greeting"},
  };
  for (const auto& c : cases) {
    auto r = run({"b@dest.test", "c@dest.test"}, c.server);
    EXPECT_EQ(r.wire, c.wire) << c.name;
    EXPECT_TRUE(r.host_failed) << c.name;
    EXPECT_EQ(results(r), "T:4.4.0 T:4.4.0 ") << c.name;
    EXPECT_EQ(r.state, ClientState::kClosed) << c.name;
    for (const auto& o : r.outcomes) {
      EXPECT_EQ(o.from_server, !c.reply.empty()) << c.name;
      if (!c.reply.empty()) {
        EXPECT_EQ(o.reply, c.reply) << c.name;
      }
      EXPECT_EQ(o.stage, c.stage) << c.name;
    }
  }
}

TEST(ClientSession, LostConnectionAndTimeouts) {
  // Lost before the greeting: host failure.
  {
    ClientSession s(config(), message({"b@dest.test"}));
    Dialogue r;
    perform(s.step(client::Connected{}), r);
    perform(s.step(client::PeerClosed{}), r);
    EXPECT_EQ(r.wire, "<CLOSE>");
    EXPECT_TRUE(s.host_failed());
    EXPECT_EQ(s.outcomes()[0].result, RecipientResult::kTemporary);
    EXPECT_NE(s.outcomes()[0].reply.find("lost connection with mx.dest.test"), std::string::npos);
  }
  // Timeout after the final dot: temporary (the message may be there: a
  // duplicate is better than a loss), not a host failure.
  {
    ClientSession s(config(), message({"b@dest.test"}));
    Dialogue r;
    perform(s.step(client::Connected{}), r);
    perform(s.step(client::Input{"220 hi\r\n" + kEhloFull + "250 ok\r\n250 ok\r\n354 go\r\n"}), r);
    EXPECT_EQ(s.state(), ClientState::kBody);
    perform(s.step(client::Timeout{}), r);
    EXPECT_FALSE(s.host_failed());
    EXPECT_EQ(s.outcomes()[0].result, RecipientResult::kTemporary);
    EXPECT_EQ(s.outcomes()[0].stage, "end of data");
    EXPECT_NE(s.outcomes()[0].reply.find("timeout"), std::string::npos);
  }
  // Lost after the final reply, before QUIT's: the outcome stands.
  {
    ClientSession s(config(), message({"b@dest.test"}));
    Dialogue r;
    perform(s.step(client::Connected{}), r);
    perform(s.step(client::Input{"220 hi\r\n" + kEhloFull +
                                 "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"}),
            r);
    perform(s.step(client::PeerClosed{}), r);
    EXPECT_EQ(s.outcomes()[0].result, RecipientResult::kDelivered);
  }
}

TEST(ClientSession, TransactionFailures) {
  struct Case {
    const char* name;
    std::string server;  // after greeting and EHLO
    bool pipelining;
    std::string outcomes;
    std::string tail;  // what the client wrote after MAIL (and its group)
  } cases[] = {
      {"MAIL 451 pipelined", "451 4.3.0 later\r\n503 no\r\n503 no\r\n554 no rcpt\r\n221 bye\r\n",
       true, "T:4.3.0 T:4.3.0 ", "QUIT\r\n<CLOSE>"},
      {"MAIL 550 plain", "550 5.7.1 go away\r\n221 bye\r\n", false, "P:5.7.1 P:5.7.1 ",
       "QUIT\r\n<CLOSE>"},
      {"all RCPT refused pipelined, DATA 554",
       "250 ok\r\n550 no\r\n550 no\r\n554 no valid\r\n221 x\r\n", true, "P:5.0.0 P:5.0.0 ",
       "QUIT\r\n<CLOSE>"},
      {"all RCPT refused, DATA 354 anyway",
       "250 ok\r\n550 no\r\n550 no\r\n354 go\r\n250 empty ok\r\n221 x\r\n", true,
       "P:5.0.0 P:5.0.0 ", ".\r\nQUIT\r\n<CLOSE>"},
      {"all RCPT refused plain", "250 ok\r\n550 no\r\n550 no\r\n221 x\r\n", false,
       "P:5.0.0 P:5.0.0 ", "RCPT TO:<b@dest.test>\r\nRCPT TO:<c@dest.test>\r\nQUIT\r\n<CLOSE>"},
      {"DATA 451", "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n451 4.3.0 no\r\n221 x\r\n", true,
       "T:4.3.0 P:5.1.1 ", "QUIT\r\n<CLOSE>"},
      {"final 552", "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n552 5.3.4 too big\r\n221 x\r\n", true,
       "P:5.3.4 P:5.3.4 ", "<MSG>QUIT\r\n<CLOSE>"},
      {"421 during RCPT", "250 ok\r\n250 ok\r\n421 4.4.2 bye\r\n", true, "T:4.4.2 T:4.4.2 ",
       "<CLOSE>"},
      {"malformed RCPT reply", "250 ok\r\n2x0 ok\r\n", true, "T:4.4.2 T:4.4.2 ", "<CLOSE>"},
  };
  for (const auto& c : cases) {
    std::string ehlo = c.pipelining ? kEhloFull : kEhloPlain;
    auto r = run({"b@dest.test", "c@dest.test"}, "220 hi\r\n" + ehlo + c.server);
    EXPECT_EQ(results(r), c.outcomes) << c.name;
    EXPECT_FALSE(r.host_failed) << c.name;
    auto dataend = r.wire.find("DATA\r\n");
    auto mailend = r.wire.find("\r\n", r.wire.find("MAIL FROM")) + 2;
    std::string tail = c.pipelining ? r.wire.substr(dataend + 6) : r.wire.substr(mailend);
    EXPECT_EQ(tail, c.tail) << c.name << "\n" << r.wire;
  }
}

TEST(ClientSession, StartTlsHook) {
  const std::string ehlo_tls = "250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n";
  ClientSession s(config(true), message({"b@dest.test"}));
  Dialogue r;
  perform(s.step(client::Connected{}), r);
  perform(s.step(client::Input{"220 hi\r\n" + ehlo_tls}), r);
  EXPECT_EQ(r.wire, "EHLO mail.example.test\r\nSTARTTLS\r\n");
  perform(s.step(client::Input{"220 2.0.0 ready\r\n"}), r);
  EXPECT_EQ(r.wire, "EHLO mail.example.test\r\nSTARTTLS\r\n<TLS>");
  EXPECT_FALSE(s.wants_input());
  perform(s.step(client::TlsDone{true}), r);
  EXPECT_TRUE(s.tls_active());
  EXPECT_FALSE(s.pipelining());  // forgotten: RFC 3207 §4.2
  perform(s.step(client::Input{"250-mx\r\n250 8BITMIME\r\n250 ok\r\n"}), r);
  EXPECT_EQ(r.wire,
            "EHLO mail.example.test\r\nSTARTTLS\r\n<TLS>EHLO mail.example.test\r\n"
            "MAIL FROM:<alice@example.test>\r\nRCPT TO:<b@dest.test>\r\n");
}

TEST(ClientSession, StartTlsInjectionIsRefused) {
  const std::string ehlo_tls = "250-mx\r\n250 STARTTLS\r\n";
  auto r = run({"b@dest.test"}, "220 hi\r\n" + ehlo_tls + "220 ready\r\n250 injected\r\n",
               message({"b@dest.test"}), config(true));
  EXPECT_EQ(r.wire, "EHLO mail.example.test\r\nSTARTTLS\r\n<CLOSE>");
  EXPECT_TRUE(r.host_failed);
}

TEST(ClientSession, StartTlsNotPossibleOrRefused) {
  const std::string ehlo_tls = "250-mx\r\n250 STARTTLS\r\n";
  auto r = run({"b@dest.test"}, "220 hi\r\n" + ehlo_tls + "250 ok\r\n", message({"b@dest.test"}),
               config(false));
  EXPECT_EQ(
      r.wire,
      "EHLO mail.example.test\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<b@dest.test>\r\n");
  auto refused = run({"b@dest.test"}, "220 hi\r\n" + ehlo_tls + "454 4.7.0 no TLS\r\n250 ok\r\n",
                     message({"b@dest.test"}), config(true));
  EXPECT_EQ(refused.wire,
            "EHLO mail.example.test\r\nSTARTTLS\r\nMAIL FROM:<alice@example.test>\r\n"
            "RCPT TO:<b@dest.test>\r\n");
  ClientSession s(config(true), message({"b@dest.test"}));
  Dialogue f;
  perform(s.step(client::Connected{}), f);
  perform(s.step(client::Input{"220 hi\r\n" + ehlo_tls + "220 go\r\n"}), f);
  perform(s.step(client::TlsDone{false}), f);
  EXPECT_TRUE(s.host_failed());
  EXPECT_EQ(s.state(), ClientState::kClosed);
}

TEST(ClientSession, AddressesThatCouldSmuggleCommandsAreNeverSent) {
  auto r = run({}, "220 hi\r\n" + kEhloFull + "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 x\r\n",
               message({"b@dest.test\r\nRSET", "c@dest.test"}));
  EXPECT_EQ(r.wire.find("RSET"), std::string::npos) << r.wire;
  EXPECT_EQ(results(r), "P:5.1.3 D:2.0.0 ");
  ClientMessage bad_sender{"a@b>\r\nDATA", {"b@dest.test"}, 1, false};
  auto s = run({}, "220 hi\r\n" + kEhloFull + "221 x\r\n", bad_sender);
  EXPECT_EQ(s.wire, "EHLO mail.example.test\r\nQUIT\r\n<CLOSE>");
  EXPECT_EQ(results(s), "P:5.1.7 ");
}

// RFC 3030: with CHUNKING the message goes as one BDAT LAST chunk once the
// RCPT replies are in; no DATA is sent.
const std::string kEhloChunking =
    "250-mx.dest.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-SIZE 10000\r\n250 8BITMIME\r\n";

TEST(ClientSession, ChunkingSendsBdatInsteadOfData) {
  std::string server = "220 mx.dest.test ESMTP\r\n" + kEhloChunking +
                       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <c@dest.test>: unknown\r\n"
                       "250 2.0.0 Ok: queued as 9\r\n221 2.0.0 Bye\r\n";
  for (const auto& split : all_splits(server)) {
    ClientSession s(config(), message({"b@dest.test", "c@dest.test"}));
    auto r = run(s, split);
    EXPECT_TRUE(s.chunking());
    EXPECT_EQ(r.wire,
              "EHLO mail.example.test\r\n"
              "MAIL FROM:<alice@example.test> SIZE=100\r\nRCPT TO:<b@dest.test>\r\n"
              "RCPT TO:<c@dest.test>\r\n<BDAT>QUIT\r\n<CLOSE>")
        << describe_split(split);
    EXPECT_EQ(results(r), "D:2.0.0 P:5.1.1 ");
    EXPECT_EQ(r.outcomes[0].stage, "BDAT LAST");
    EXPECT_EQ(r.outcomes[0].reply, "250 2.0.0 Ok: queued as 9");
  }
}

TEST(ClientSession, ChunkingWithoutPipeliningAndItsFailures) {
  // One command at a time, then BDAT.
  auto r = run({"b@dest.test"},
               "220 x\r\n250-mx.dest.test\r\n250 CHUNKING\r\n250 Ok\r\n"
               "250 Ok\r\n250 Ok\r\n221 Bye\r\n");
  EXPECT_EQ(r.wire,
            "EHLO mail.example.test\r\nMAIL FROM:<alice@example.test>\r\n"
            "RCPT TO:<b@dest.test>\r\n<BDAT>QUIT\r\n<CLOSE>");
  EXPECT_EQ(results(r), "D:2.0.0 ");
  // Every recipient refused: no chunk at all.
  r = run({"b@dest.test"}, "220 x\r\n" + kEhloChunking + "250 Ok\r\n550 5.1.1 no\r\n221 Bye\r\n");
  EXPECT_EQ(r.wire,
            "EHLO mail.example.test\r\nMAIL FROM:<alice@example.test> SIZE=100\r\n"
            "RCPT TO:<b@dest.test>\r\nQUIT\r\n<CLOSE>");
  EXPECT_EQ(results(r), "P:5.1.1 ");
  // MAIL refused: the pipelined RCPT reply is read, no chunk.
  r = run({"b@dest.test"},
          "220 x\r\n" + kEhloChunking + "451 4.3.0 later\r\n503 5.5.1 no MAIL\r\n221 Bye\r\n");
  EXPECT_EQ(r.wire.find("<BDAT>"), std::string::npos);
  EXPECT_EQ(results(r), "T:4.3.0 ");
  // The reply to BDAT LAST decides like the reply to the final dot.
  r = run({"b@dest.test"},
          "220 x\r\n" + kEhloChunking + "250 Ok\r\n250 Ok\r\n452 4.3.1 full\r\n221 Bye\r\n");
  EXPECT_EQ(results(r), "T:4.3.1 ");
  r = run({"b@dest.test"},
          "220 x\r\n" + kEhloChunking + "250 Ok\r\n250 Ok\r\n554 5.6.0 bad\r\n221 Bye\r\n");
  EXPECT_EQ(results(r), "P:5.6.0 ");
  // Connection lost after the chunk: temporary (it may have arrived).
  r = run({"b@dest.test"}, "220 x\r\n" + kEhloChunking + "250 Ok\r\n250 Ok\r\n");
  EXPECT_EQ(r.state, ClientState::kBody);
}

// Connection reuse (issue 15): Ready instead of QUIT, then RSET and the
// next message's transaction over the same connection.
TEST(ClientSession, ReuseSendsRsetBetweenMessages) {
  ClientConfig cfg = config();
  cfg.reuse = true;
  ClientSession s(cfg, message({"b@dest.test"}));
  Dialogue r;
  perform(s.step(client::Connected{}), r);
  perform(s.step(client::Input{"220 mx.dest.test ESMTP\r\n" + kEhloFull}), r);
  perform(s.step(client::Input{"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"}), r);
  perform(s.step(client::Input{"250 2.0.0 queued 1\r\n"}), r);
  EXPECT_EQ(s.state(), ClientState::kIdle);
  EXPECT_FALSE(s.wants_input());
  EXPECT_EQ(s.outcomes().size(), 1u);
  EXPECT_EQ(s.outcomes()[0].result, RecipientResult::kDelivered);
  EXPECT_EQ(r.wire,
            "EHLO mail.example.test\r\nMAIL FROM:<alice@example.test> SIZE=100\r\n"
            "RCPT TO:<b@dest.test>\r\nDATA\r\n<MSG><READY>");
  r.wire.clear();
  perform(s.next(message({"c@dest.test", "d@dest.test"}, 200)), r);
  EXPECT_EQ(r.wire, "RSET\r\n");
  EXPECT_EQ(s.outcomes().size(), 2u);
  EXPECT_EQ(s.outcomes()[0].result, RecipientResult::kUnknown);  // a fresh transaction
  perform(s.step(client::Input{"250 2.0.0 Ok\r\n"}), r);
  perform(s.step(client::Input{"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no\r\n354 go\r\n"}), r);
  perform(s.step(client::Input{"250 2.0.0 queued 2\r\n"}), r);
  EXPECT_EQ(s.state(), ClientState::kIdle);
  EXPECT_EQ(s.outcomes()[0].result, RecipientResult::kDelivered);
  EXPECT_EQ(s.outcomes()[1].result, RecipientResult::kPermanent);
  r.wire.clear();
  perform(s.step(client::Quit{}), r);
  perform(s.step(client::Input{"221 2.0.0 Bye\r\n"}), r);
  EXPECT_EQ(r.wire, "QUIT\r\n<CLOSE>");
  EXPECT_FALSE(s.host_failed());
  // next() outside kIdle does nothing.
  EXPECT_TRUE(s.next(message({"e@dest.test"})).empty());
}

TEST(ClientSession, ReuseAfterARefusedTransactionAndFailedRset) {
  ClientConfig cfg = config();
  cfg.reuse = true;
  ClientSession s(cfg, message({"b@dest.test"}));
  Dialogue r;
  perform(s.step(client::Connected{}), r);
  perform(s.step(client::Input{"220 mx.dest.test ESMTP\r\n" + kEhloFull}), r);
  // MAIL refused: the pipelined replies are read, then the server is still in step.
  perform(s.step(client::Input{"451 4.3.0 try later\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no\r\n"}), r);
  EXPECT_EQ(s.state(), ClientState::kIdle);
  EXPECT_EQ(s.outcomes()[0].result, RecipientResult::kTemporary);
  // The RSET for the next message fails: nothing was decided for it.
  r.wire.clear();
  perform(s.next(message({"c@dest.test"})), r);
  perform(s.step(client::Input{"421 4.4.2 closing\r\n"}), r);
  EXPECT_TRUE(s.host_failed());
  EXPECT_EQ(s.outcomes()[0].result, RecipientResult::kTemporary);
  EXPECT_EQ(r.wire, "RSET\r\n<CLOSE>");
  // A lost connection during RSET is a host failure too.
  ClientSession t(cfg, message({"b@dest.test"}));
  Dialogue q;
  perform(t.step(client::Connected{}), q);
  perform(
      t.step(client::Input{"220 x\r\n" + kEhloFull + "250 Ok\r\n250 Ok\r\n354 go\r\n250 Ok\r\n"}),
      q);
  ASSERT_EQ(t.state(), ClientState::kIdle);
  perform(t.next(message({"c@dest.test"})), q);
  perform(t.step(client::PeerClosed{}), q);
  EXPECT_TRUE(q.closed);
  EXPECT_TRUE(t.host_failed());
  EXPECT_EQ(t.outcomes()[0].stage, "RSET");
}

TEST(ClientSession, ConfiguredTimeouts) {
  ClientConfig cfg = config();
  cfg.greeting_timeout = std::chrono::seconds(7);
  cfg.data_timeout = std::chrono::seconds(9);
  ClientSession s(cfg, message({"b@dest.test"}));
  Dialogue r;
  perform(s.step(client::Connected{}), r);
  EXPECT_EQ(s.read_timeout(), std::chrono::seconds(7));
  perform(s.step(client::Input{"220 mx.dest.test ESMTP\r\n" + kEhloFull +
                               "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"}),
          r);
  EXPECT_EQ(s.state(), ClientState::kBody);
  EXPECT_EQ(s.read_timeout(), std::chrono::seconds(9));
}

TEST(ClientSession, EncodeBdatIsCanonicalWithoutStuffing) {
  EXPECT_EQ(encode_bdat("a\r\n.\r\n..x\nb\rc"), "BDAT 17 LAST\r\na\r\n.\r\n..x\r\nb\r\nc\r\n");
  EXPECT_EQ(encode_bdat(""), "BDAT 0 LAST\r\n");
  EXPECT_EQ(encode_bdat("x\r\n"), "BDAT 3 LAST\r\nx\r\n");
  const std::string msg = std::string("Subject: x\r\n\r\n") + std::string(5000, 'y') + "\r\n.\r\n";
  std::string out = encode_bdat(msg);
  auto eol = out.find("\r\n");
  EXPECT_EQ(out.substr(0, eol), "BDAT " + std::to_string(msg.size()) + " LAST");
  EXPECT_EQ(out.substr(eol + 2), msg);
}

}  // namespace
}  // namespace tegami::smtp
