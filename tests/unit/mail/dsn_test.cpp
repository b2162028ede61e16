#include "mail/dsn.hpp"

#include <gtest/gtest.h>

#include <string>

#include "mail/header.hpp"
#include "mail/received.hpp"

namespace tegami::mail {
namespace {

using std::chrono::seconds;
using TimePoint = std::chrono::system_clock::time_point;

const std::string kOriginal =
    "Received: from client (localhost [127.0.0.1])\r\n\tby mail.example.test (tegami) with ESMTP "
    "id 0123456789ABCDEF; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "From: Alice <alice@example.test>\r\nTo: bob@dest.test\r\nSubject: lunch?\r\n"
    "Message-ID: <orig-1@example.test>\r\n\r\nSECRET BODY TEXT\r\n";

DsnReport report() {
  DsnReport r;
  r.reporting_mta = "mail.example.test";
  r.queue_id = "0123456789ABCDEF";
  r.dsn_id = "00000000000000AA";
  r.sender = "alice@example.test";
  r.arrival = TimePoint(seconds(1700000000));
  r.now = TimePoint(seconds(1700000100));
  r.message_id = "<0123456789ABCDEF.dsn@mail.example.test>";
  r.boundary = "0123456789ABCDEF/mail.example.test";
  DsnRecipient rc;
  rc.final_recipient = "bob@dest.test";
  rc.status = "5.1.1";
  rc.remote_mta = "mx.dest.test";
  rc.diagnostic = "smtp; 550 5.1.1 <bob@dest.test>: Recipient address rejected: User unknown";
  rc.stage = "RCPT TO";
  rc.last_attempt = TimePoint(seconds(1700000090));
  r.recipients.push_back(rc);
  r.original = kOriginal;
  return r;
}

void expect_well_formed(const std::string& m) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
      EXPECT_LE(i - 1 - start, 998u) << "line too long at " << start;
      start = i + 1;
    } else if (m[i] == '\r') {
      ASSERT_TRUE(i + 1 < m.size() && m[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  ASSERT_GE(m.size(), 2u);
  EXPECT_EQ(m.substr(m.size() - 2), "\r\n");
}

TEST(Dsn, FailedReport) {
  auto m = build_dsn(report());
  expect_well_formed(m);
  auto h = parse_header(m);
  ASSERT_NE(h.find("From"), nullptr);
  EXPECT_EQ(h.find("From")->value, "Mail Delivery System <MAILER-DAEMON@mail.example.test>");
  EXPECT_EQ(h.find("To")->value, "<alice@example.test>");
  EXPECT_EQ(h.find("Subject")->value, "Undelivered Mail Returned to Sender");
  EXPECT_EQ(h.find("Auto-Submitted")->value, "auto-replied");
  EXPECT_EQ(h.find("Date")->value, "Tue, 14 Nov 2023 22:15:00 +0000");
  EXPECT_NE(h.find("Content-Type")->value.find("multipart/report; report-type=delivery-status"),
            std::string::npos);
  for (const char* want :
       {"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.example.test\r\n",
        "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n",
        "\r\n\r\nFinal-Recipient: rfc822; bob@dest.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Remote-MTA: dns; mx.dest.test\r\n",
        "Diagnostic-Code: smtp; 550 5.1.1 <bob@dest.test>: Recipient address rejected:\r\n User "
        "unknown\r\n",
        "Last-Attempt-Date: Tue, 14 Nov 2023 22:14:50 +0000\r\n",
        "Content-Type: text/rfc822-headers\r\n\r\nReceived: from client",
        "Subject: lunch?\r\nMessage-ID: <orig-1@example.test>\r\n\r\n--0123456789ABCDEF/"
        "mail.example.test--\r\n",
        "<bob@dest.test>: host mx.dest.test said: 550 5.1.1 <bob@dest.test>:"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n----\n" << m;
  }
  EXPECT_EQ(m.find("SECRET BODY"), std::string::npos) << "the body must not be returned";
  EXPECT_EQ(m.find("Will-Retry-Until"), std::string::npos);
}

// Issue 12: the reply alone in Diagnostic-Code; the stage in the text part.
TEST(Dsn, StageInTextNotInDiagnostic) {
  auto m = build_dsn(report());
  auto status = m.find("Content-Type: message/delivery-status");
  ASSERT_NE(status, std::string::npos);
  auto diag = m.find("Diagnostic-Code: ", status);
  ASSERT_NE(diag, std::string::npos);
  auto diag_end = m.find("\r\nLast-Attempt-Date:", diag);
  ASSERT_NE(diag_end, std::string::npos);
  EXPECT_EQ(m.substr(diag, diag_end - diag),
            "Diagnostic-Code: smtp; 550 5.1.1 <bob@dest.test>: Recipient address rejected:\r\n"
            " User unknown");
  // Text part (before the delivery-status part), unfolded.
  std::string text;
  for (char c : m.substr(0, status))
    if (c != '\r') text += c == '\n' ? ' ' : c;
  EXPECT_NE(text.find("<bob@dest.test>: host mx.dest.test said: 550 5.1.1 <bob@dest.test>: "
                      "Recipient address rejected: User unknown (in reply to RCPT TO command)"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("in reply to", status), std::string::npos) << "only in the text part";
}

TEST(Dsn, InReplyToWording) {
  EXPECT_EQ(in_reply_to("RCPT TO"), "in reply to RCPT TO command");
  EXPECT_EQ(in_reply_to("MAIL FROM"), "in reply to MAIL FROM command");
  EXPECT_EQ(in_reply_to("DATA"), "in reply to DATA command");
  EXPECT_EQ(in_reply_to("end of data"), "in reply to end of DATA command");
  EXPECT_EQ(in_reply_to("greeting"), "in reply to the initial greeting");
  EXPECT_EQ(in_reply_to(""), "");
}

TEST(Dsn, NoStageForOurOwnDiagnostics) {
  auto r = report();
  r.recipients[0].diagnostic = "X-Tegami; lost connection with mx while waiting for RCPT TO";
  auto m = build_dsn(r);
  EXPECT_NE(m.find("host mx.dest.test: lost connection"), std::string::npos) << m;
  EXPECT_EQ(m.find("command)"), std::string::npos) << m;
}

// RFC 3464 §2.3.5: Remote-MTA is "dns; NAME"; an address has no DNS name.
TEST(Dsn, RemoteMtaOnlyForHostNames) {
  EXPECT_TRUE(is_dns_name("mx.dest.test"));
  EXPECT_FALSE(is_dns_name(""));
  EXPECT_FALSE(is_dns_name("[192.0.2.1]"));
  EXPECT_FALSE(is_dns_name("[IPv6:2001:db8::1]"));
  EXPECT_FALSE(is_dns_name("192.0.2.1"));  // written by older versions
  EXPECT_FALSE(is_dns_name("2001:db8::1"));
  for (const char* literal : {"[192.0.2.1]", "192.0.2.1", "[IPv6:2001:db8::1]"}) {
    auto r = report();
    r.recipients[0].remote_mta = literal;
    auto m = build_dsn(r);
    expect_well_formed(m);
    EXPECT_EQ(m.find("Remote-MTA"), std::string::npos) << literal << "\n" << m;
    EXPECT_NE(m.find(std::string("host ") + literal + " said: 550 5.1.1"), std::string::npos)
        << literal << "\n"
        << m;
    EXPECT_NE(m.find("Diagnostic-Code: smtp; 550 5.1.1"), std::string::npos);
  }
}

// Like every message tegami writes, the DSN opens with our Received: field,
// which the trace parser reads back.
TEST(Dsn, ReceivedFieldFirst) {
  auto m = build_dsn(report());
  ASSERT_EQ(m.rfind("Received: from localhost\r\n\tby mail.example.test (tegami) id "
                    "00000000000000AA; Tue, 14 Nov 2023 22:15:00 +0000\r\nFrom: ",
                    0),
            0u)
      << m.substr(0, 200);
  auto h = parse_header(m);
  ASSERT_NE(h.find("Received"), nullptr);
  auto rx = parse_received(h.find("Received")->value);
  EXPECT_EQ(rx.by_host, "mail.example.test");
  EXPECT_EQ(rx.id, "00000000000000AA");
  EXPECT_TRUE(rx.has_from);
  EXPECT_EQ(rx.helo, "localhost");
  EXPECT_TRUE(rx.date.has_value());
  EXPECT_TRUE(rx.problems.empty());
  // The id is sanitised like any of our Received: values.
  auto r = report();
  r.dsn_id = "X; by evil\r\nBcc: v@example.net";
  auto bad = build_dsn(r);
  expect_well_formed(bad);
  EXPECT_EQ(bad.find("\r\nBcc:"), std::string::npos);
}

TEST(Dsn, DelayedReport) {
  auto r = report();
  r.recipients[0].action = DsnAction::kDelayed;
  r.recipients[0].status = "4.4.1";
  r.recipients[0].remote_mta = "";
  r.recipients[0].diagnostic = "X-Tegami; connect to 127.0.0.1:2526: Connection refused";
  r.recipients[0].will_retry_until = TimePoint(seconds(1700432000));
  auto m = build_dsn(r);
  expect_well_formed(m);
  EXPECT_EQ(parse_header(m).find("Subject")->value, "Delayed Mail (still being retried)");
  for (const char* want :
       {"Action: delayed\r\nStatus: 4.4.1\r\nDiagnostic-Code: X-Tegami; connect to "
        "127.0.0.1:2526: Connection refused\r\n",
        "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n", "delivery delayed: connect to"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n----\n" << m;
  }
  EXPECT_EQ(m.find("Remote-MTA"), std::string::npos);
}

TEST(Dsn, StatusFallbackAndHostileValues) {
  auto r = report();
  r.recipients[0].status = "5.1";  // malformed: derived from the action
  r.recipients[0].diagnostic = "smtp; 550 evil\r\nX-Injected: yes " + std::string(3000, 'x');
  r.recipients.push_back(r.recipients[0]);
  r.recipients[1].action = DsnAction::kDelayed;
  r.recipients[1].status = "";
  r.sender = "a\r\nBcc: victim@example.net";
  r.boundary = "Received";  // occurs in the original: must be changed
  auto m = build_dsn(r);
  expect_well_formed(m);
  EXPECT_NE(m.find("Status: 5.0.0\r\n"), std::string::npos);
  EXPECT_NE(m.find("Status: 4.0.0\r\n"), std::string::npos);
  EXPECT_EQ(m.find("\r\nX-Injected"), std::string::npos);
  EXPECT_EQ(m.find("\r\nBcc:"), std::string::npos);
  EXPECT_EQ(m.find("--Received\r\n"), std::string::npos);
  EXPECT_NE(m.find("--Received=_\r\n"), std::string::npos);
}

TEST(Dsn, GlobalReportForUtf8Addresses) {
  // RFC 6533: a UTF-8 final recipient (or sender) makes the report global.
  auto r = report();
  r.recipients[0].final_recipient = "\xe3\x81\x82@dest.test";
  r.recipients[0].status = "5.6.7";
  r.sender = "j\xc3\xb6rg@example.test";
  std::string dsn = build_dsn(r);
  EXPECT_NE(dsn.find("To: <j\xc3\xb6rg@example.test>\r\n"), std::string::npos) << dsn;
  EXPECT_NE(dsn.find("report-type=global-delivery-status;"), std::string::npos);
  EXPECT_NE(dsn.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(dsn.find("<\xe3\x81\x82@dest.test>: host mx.dest.test said:"), std::string::npos);
  EXPECT_NE(dsn.find("Content-Type: message/global-delivery-status\r\n"), std::string::npos);
  EXPECT_NE(dsn.find("Final-Recipient: utf-8; \xe3\x81\x82@dest.test\r\n"), std::string::npos);
  EXPECT_NE(dsn.find("Content-Type: message/global-headers\r\n"), std::string::npos);
  EXPECT_EQ(dsn.find("message/delivery-status"), std::string::npos);
  // An ASCII recipient in a global report keeps the rfc822 type.
  r.recipients.push_back(report().recipients[0]);
  dsn = build_dsn(r);
  EXPECT_NE(dsn.find("Final-Recipient: rfc822; bob@dest.test\r\n"), std::string::npos);
  // Malformed UTF-8 never gets through: the report stays ASCII.
  auto bad = report();
  bad.recipients[0].final_recipient = "a\xc0\xaf@dest.test";
  dsn = build_dsn(bad);
  EXPECT_NE(dsn.find("report-type=delivery-status;"), std::string::npos);
  EXPECT_NE(dsn.find("Final-Recipient: rfc822; a??@dest.test\r\n"), std::string::npos);
}

TEST(Dsn, HeaderSection) {
  EXPECT_EQ(header_section("A: 1\r\nB: 2\r\n\r\nbody\r\n"), "A: 1\r\nB: 2\r\n");
  EXPECT_EQ(header_section("A: 1\nB: 2\n\nbody\n"), "A: 1\nB: 2\n");
  EXPECT_EQ(header_section("A: 1\r\n"), "A: 1\r\n");
  EXPECT_EQ(header_section("A: 1"), "A: 1");
  EXPECT_EQ(header_section("\r\nbody"), "");
  EXPECT_EQ(header_section(""), "");
}

TEST(Dsn, FoldField) {
  EXPECT_EQ(fold_field("Status", "5.1.1"), "Status: 5.1.1");
  std::string v;
  for (int i = 0; i < 40; ++i) v += "word" + std::to_string(i) + " ";
  auto f = fold_field("Diagnostic-Code", v);
  std::size_t start = 0;
  while (start < f.size()) {
    auto end = f.find("\r\n", start);
    if (end == std::string::npos) end = f.size();
    EXPECT_LE(end - start, 78u);
    if (start > 0) {
      EXPECT_EQ(f[start], ' ');
    }
    start = end + 2;
  }
  auto huge = fold_field("X", std::string(5000, 'y'));
  for (std::size_t s = 0, e; s < huge.size(); s = e + 2) {
    e = huge.find("\r\n", s);
    if (e == std::string::npos) e = huge.size();
    EXPECT_LE(e - s, 998u);
  }
}

// RFC 3461 §6: ENVID and ORCPT come back as Original-Envelope-Id and
// Original-Recipient (decoded, never folded for the ENVID).
TEST(Dsn, EnvelopeIdAndOriginalRecipient) {
  auto r = report();
  r.envid = "QQ314159  with two spaces and enough text to pass the seventy-eight column mark";
  r.recipients[0].original_type = "rfc822";
  r.recipients[0].original_address = "Bob+List@dest.test";
  auto m = build_dsn(r);
  expect_well_formed(m);
  EXPECT_NE(m.find("Content-Type: message/delivery-status\r\n\r\nOriginal-Envelope-Id: QQ314159  "
                   "with two spaces and enough text to pass the seventy-eight column mark\r\n"
                   "Reporting-MTA: dns; mail.example.test\r\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("\r\n\r\nOriginal-Recipient: rfc822; Bob+List@dest.test\r\n"
                   "Final-Recipient: rfc822; bob@dest.test\r\nAction: failed\r\n"),
            std::string::npos)
      << m;
  // Absent parameters: no fields.
  auto plain = build_dsn(report());
  EXPECT_EQ(plain.find("Original-Envelope-Id"), std::string::npos);
  EXPECT_EQ(plain.find("Original-Recipient"), std::string::npos);
  // Values from the network stay on their line.
  r.envid = "x\r\nBcc: v@example.net";
  r.recipients[0].original_address = "a\r\nBcc: v@example.net";
  auto bad = build_dsn(r);
  expect_well_formed(bad);
  EXPECT_EQ(bad.find("\r\nBcc:"), std::string::npos);
}

TEST(Dsn, SuccessReports) {
  auto r = report();
  r.recipients[0].action = DsnAction::kDelivered;
  r.recipients[0].status = "2.0.0";
  r.recipients[0].remote_mta = "";
  r.recipients[0].diagnostic = "";
  r.recipients[0].stage = "";
  DsnRecipient relayed = report().recipients[0];
  relayed.final_recipient = "carol@far.test";
  relayed.action = DsnAction::kRelayed;
  relayed.status = "5.1.1";  // not a success code: replaced by 2.0.0
  relayed.diagnostic = "smtp; 250 2.0.0 Ok: queued as 42";
  relayed.stage = "end of data";
  r.recipients.push_back(relayed);
  auto m = build_dsn(r);
  expect_well_formed(m);
  EXPECT_EQ(parse_header(m).find("Subject")->value, "Successful Mail Delivery Report");
  for (const char* want :
       {"Final-Recipient: rfc822; bob@dest.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n",
        "Final-Recipient: rfc822; carol@far.test\r\nAction: relayed\r\nStatus: 2.0.0\r\n"
        "Remote-MTA: dns; mx.dest.test\r\nDiagnostic-Code: smtp; 250 2.0.0 Ok: queued as 42\r\n",
        "<bob@dest.test>: delivered to the mailbox.",
        "<carol@far.test>: relayed to a system that does not support delivery status",
        "Content-Description: Message Headers\r\nContent-Type: text/rfc822-headers\r\n"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n----\n" << m;
  }
  EXPECT_EQ(m.find("SECRET BODY"), std::string::npos);
  // RET=FULL never returns the body of a success report (RFC 3461 §4.3).
  r.return_full = true;
  auto f = build_dsn_frame(r);
  EXPECT_FALSE(f.full);
  EXPECT_NE(f.head.find("Content-Type: text/rfc822-headers\r\n\r\n"), std::string::npos);
}

TEST(Dsn, FullReturnFrame) {
  auto r = report();
  r.return_full = true;
  auto f = build_dsn_frame(r);
  EXPECT_TRUE(f.full);
  EXPECT_EQ(f.boundary, "0123456789ABCDEF/mail.example.test");
  ASSERT_GE(f.head.size(), 4u);
  EXPECT_EQ(f.head.substr(f.head.size() - 4), "\r\n\r\n");
  EXPECT_NE(f.head.find("--" + f.boundary +
                        "\r\nContent-Description: Undelivered Message\r\n"
                        "Content-Type: message/rfc822\r\n\r\n"),
            std::string::npos)
      << f.head;
  EXPECT_NE(f.head.find("It is attached below."), std::string::npos);
  EXPECT_EQ(f.head.find("its header section"), std::string::npos);
  EXPECT_EQ(f.tail, "\r\n--" + f.boundary + "--\r\n");
  std::string whole = f.head + kOriginal + f.tail;
  expect_well_formed(whole);
  EXPECT_NE(whole.find("SECRET BODY TEXT\r\n\r\n--0123456789ABCDEF"), std::string::npos);
  r.full_eight_bit = true;
  EXPECT_NE(build_dsn_frame(r).head.find("Content-Type: message/rfc822\r\n"
                                         "Content-Transfer-Encoding: 8bit\r\n\r\n"),
            std::string::npos);
  // build_dsn() always returns the header section.
  EXPECT_EQ(build_dsn(r).find("SECRET BODY"), std::string::npos);
}

TEST(Dsn, PostmasterNotices) {
  auto r = report();
  r.sender = "postmaster@example.test";
  r.notice = PostmasterNotice::kDoubleBounce;
  r.original_sender = "";
  auto m = build_dsn(r);
  expect_well_formed(m);
  auto h = parse_header(m);
  EXPECT_EQ(h.find("To")->value, "<postmaster@example.test>");
  EXPECT_EQ(h.find("Subject")->value, "Postmaster Copy: Undelivered Mail");
  std::string text;
  for (char c : m)
    if (c != '\r') text += c == '\n' ? ' ' : c;
  EXPECT_NE(text.find("a delivery status notification (a message from the null sender <>) could "
                      "not be delivered"),
            std::string::npos)
      << m;
  r.notice = PostmasterNotice::kUnknownSender;
  r.original_sender = "ghost@example.test";
  m = build_dsn(r);
  text.clear();
  for (char c : m)
    if (c != '\r') text += c == '\n' ? ' ' : c;
  EXPECT_NE(text.find("its sender <ghost@example.test> does not exist here"), std::string::npos)
      << m;
  EXPECT_NE(m.find("Action: failed\r\n"), std::string::npos);
}

}  // namespace
}  // namespace tegami::mail
