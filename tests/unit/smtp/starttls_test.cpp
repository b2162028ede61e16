// STARTTLS in the SMTP server machine (RFC 3207, RFC 8314, RFC 3848): what
// the golden transcripts (tests/transcripts/smtp/*tls*) do not show directly.
#include <gtest/gtest.h>

#include <string>

#include "proto/smtp/server_session.hpp"

namespace tegami::smtp {
namespace {

SessionConfig tls_config() {
  SessionConfig c;
  c.hostname = "mx.example.test";
  c.session_id = "tls1";
  c.offer_starttls = true;
  return c;
}

std::string replies(const Actions& actions) {
  std::string out;
  for (const auto& a : actions) {
    if (const auto* r = std::get_if<Reply>(&a)) out += r->text;
  }
  return out;
}

TlsStarted good_handshake() {
  return TlsStarted{true, "TLSv1.3", "TLS_AES_256_GCM_SHA384"};
}

TEST(SmtpStartTls, EhloOffersStartTlsOnlyWhenConfiguredAndNotInTls) {
  for (bool offer : {false, true}) {
    SessionConfig c = tls_config();
    c.offer_starttls = offer;
    ServerSession s(c);
    s.step(Connected{});
    std::string ehlo = replies(s.step(Input{"EHLO c.example\r\n"}));
    EXPECT_EQ(ehlo.find("250-STARTTLS\r\n") != std::string::npos, offer) << ehlo;
  }
  SessionConfig c = tls_config();
  c.tls = TlsInfo{"TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"};
  ServerSession implicit(c);
  implicit.step(Connected{});
  std::string ehlo = replies(implicit.step(Input{"EHLO c.example\r\n"}));
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos) << ehlo;
  ASSERT_TRUE(implicit.tls());
  EXPECT_EQ(implicit.tls()->protocol, "TLSv1.2");
}

TEST(SmtpStartTls, StartTlsIsTheLastActionAndStopsReading) {
  ServerSession s(tls_config());
  s.step(Connected{});
  s.step(Input{"EHLO c.example\r\n"});
  Actions a = s.step(Input{"STARTTLS\r\n"});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(std::get<Reply>(a[0]).text, "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(std::holds_alternative<StartTls>(a[1]));
  EXPECT_EQ(s.state(), State::kStartingTls);
  EXPECT_FALSE(s.wants_input());
  EXPECT_FALSE(s.tls());

  a = s.step(good_handshake());
  EXPECT_TRUE(a.empty());  // no new greeting: the client speaks first (RFC 3207 §4.2)
  EXPECT_EQ(s.state(), State::kGreeted);
  EXPECT_TRUE(s.wants_input());
  ASSERT_TRUE(s.tls());
  EXPECT_EQ(s.tls()->cipher, "TLS_AES_256_GCM_SHA384");
}

TEST(SmtpStartTls, PipelinedCommandsAreDiscardedNeverExecuted) {
  ServerSession s(tls_config());
  s.step(Connected{});
  s.step(Input{"EHLO c.example\r\n"});
  // CVE-2011-0411: the whole rest of the packet is clear text from before TLS.
  Actions a = s.step(Input{"STARTTLS\r\nMAIL FROM:<evil@example.net>\r\nRSET\r\n"});
  EXPECT_EQ(replies(a), "220 2.0.0 Ready to start TLS\r\n");
  ASSERT_TRUE(std::holds_alternative<StartTls>(a.back()));
  // A driver that (wrongly) reads before the handshake: held, then dropped.
  a = s.step(Input{"MAIL FROM:<evil2@example.net>\r\n"});
  EXPECT_TRUE(a.empty());
  a = s.step(good_handshake());
  EXPECT_TRUE(a.empty());
  // Nothing of it ran: MAIL needs a new EHLO, then a transaction can start.
  a = s.step(Input{"MAIL FROM:<a@example.net>\r\n"});
  EXPECT_EQ(replies(a), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  s.step(Input{"EHLO c.example\r\n"});
  a = s.step(Input{"MAIL FROM:<a@example.net>\r\n"});
  ASSERT_FALSE(a.empty());
  ASSERT_TRUE(std::holds_alternative<CheckSender>(a.back()));
  EXPECT_EQ(std::get<CheckSender>(a.back()).sender.to_path(), "<a@example.net>");
  a = s.step(SenderChecked{true, ""});
  EXPECT_EQ(replies(a), "250 2.1.0 Ok\r\n");
}

TEST(SmtpStartTls, PartialLineBehindStartTlsIsDiscardedToo) {
  ServerSession s(tls_config());
  s.step(Connected{});
  s.step(Input{"EHLO c.example\r\n"});
  s.step(Input{"STARTTLS\r\nMAIL FROM:<ev"});
  s.step(good_handshake());
  // Had the partial line survived, this would complete it into a MAIL.
  Actions a = s.step(Input{"il@example.net>\r\n"});
  EXPECT_EQ(replies(a), "500 5.5.2 Error: command not recognized\r\n");
}

TEST(SmtpStartTls, HandshakeFailureClosesWithoutReply) {
  ServerSession s(tls_config());
  s.step(Connected{});
  s.step(Input{"STARTTLS\r\n"});
  Actions a = s.step(TlsStarted{});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Close>(a[0]));
  EXPECT_EQ(s.state(), State::kClosed);
}

TEST(SmtpStartTls, TlsStartedOutOfPlaceIsIgnored) {
  ServerSession s(tls_config());
  s.step(Connected{});
  Actions a = s.step(good_handshake());
  EXPECT_TRUE(a.empty());
  EXPECT_FALSE(s.tls());
  EXPECT_EQ(s.state(), State::kGreeted);
}

TEST(SmtpStartTls, ShutdownDuringHandshakeIsAnsweredAfterIt) {
  ServerSession s(tls_config());
  s.step(Connected{});
  s.step(Input{"STARTTLS\r\n"});
  EXPECT_TRUE(s.step(Shutdown{}).empty());
  Actions a = s.step(good_handshake());
  // The driver steps Shutdown again once the machine wants input; the flag
  // also makes the next command boundary answer 421.
  a = s.step(Input{"NOOP\r\n"});
  EXPECT_EQ(replies(a), "421 4.3.2 mx.example.test Service shutting down\r\n");
  EXPECT_EQ(s.state(), State::kClosed);
}

TEST(SmtpStartTls, EnvelopeRecordsTlsAndReceivedProtocol) {
  Envelope e;
  EXPECT_EQ(received_protocol(e), "SMTP");
  e.esmtp = true;
  EXPECT_EQ(received_protocol(e), "ESMTP");
  e.tls = TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"};
  EXPECT_EQ(received_protocol(e), "ESMTPS");
  e.esmtp = false;
  EXPECT_EQ(received_protocol(e), "SMTP");
  // RFC 6531 §3.7.3: with SMTPUTF8, UTF8SMTP / UTF8SMTPS / UTF8SMTPA / UTF8SMTPSA.
  e.esmtp = true;
  e.smtputf8 = true;
  EXPECT_EQ(received_protocol(e), "UTF8SMTPS");
  e.auth_account = "alice@example.test";
  EXPECT_EQ(received_protocol(e), "UTF8SMTPSA");
  e.tls.reset();
  EXPECT_EQ(received_protocol(e), "UTF8SMTPA");
  e.auth_account.clear();
  EXPECT_EQ(received_protocol(e), "UTF8SMTP");
  e.smtputf8 = false;
  e.esmtp = false;

  ServerSession s(tls_config());
  s.step(Connected{});
  s.step(Input{"STARTTLS\r\n"});
  s.step(good_handshake());
  s.step(Input{"EHLO c.example\r\n"});
  s.step(Input{"MAIL FROM:<a@example.net>\r\n"});
  s.step(SenderChecked{true, ""});
  s.step(Input{"RCPT TO:<alice@example.test>\r\n"});
  s.step(RecipientChecked{true, "", {Destination::mailbox("example.test", "alice")}});
  s.step(Input{"DATA\r\n"});
  Actions a = s.step(Input{"Subject: x\r\n\r\nbody\r\n.\r\n"});
  ASSERT_FALSE(a.empty());
  const auto* d = std::get_if<Deliver>(&a.back());
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->envelope.tls);
  EXPECT_EQ(d->envelope.tls->protocol, "TLSv1.3");
  EXPECT_EQ(received_protocol(d->envelope), "ESMTPS");
}

TEST(SmtpStartTls, ErrorCountSurvivesTheUpgrade) {
  SessionConfig c = tls_config();
  c.error_delay_after = 2;
  ServerSession s(c);
  s.step(Connected{});
  s.step(Input{"BOGUS\r\n"});
  s.step(Input{"BOGUS\r\n"});
  s.step(Input{"STARTTLS\r\n"});
  s.step(good_handshake());
  // STARTTLS is no way to wipe the slate: replies are still delayed.
  Actions a = s.step(Input{"BOGUS\r\n"});
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(std::holds_alternative<Delay>(a.front()));
}

}  // namespace
}  // namespace tegami::smtp
