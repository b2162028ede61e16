// One test per Received: form of ../shared/TRACE-CASES.md, plus garbled and
// split input, plus the formatter the SMTP server uses.
#include "mail/received.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

namespace tegami::mail {
namespace {

using namespace std::chrono;

std::string utc(const Received& r) {
  return r.date ? format_rfc3339_utc(r.date->utc) : "none";
}

TEST(Received, Postfix) {
  auto r = parse_received(
      "from a.example (rdns.example [82.65.66.244]) by mx.example (Postfix) with ESMTP id "
      "7BACDC372 for <x@y.example>; Fri, 14 Nov 2003 09:05:49 +0100 (CET)");
  EXPECT_EQ(r.helo, "a.example");
  EXPECT_EQ(r.from_host, "rdns.example");
  EXPECT_EQ(r.from_ip, "82.65.66.244");
  EXPECT_EQ(r.by_host, "mx.example");
  EXPECT_EQ(r.with, "ESMTP");
  EXPECT_EQ(r.id, "7BACDC372");
  EXPECT_EQ(r.for_addr, "<x@y.example>");
  EXPECT_EQ(utc(r), "2003-11-14T08:05:49Z");
  EXPECT_EQ(r.date->offset_minutes, 60);
  EXPECT_EQ(r.tls, false);
  EXPECT_EQ(r.authenticated, false);
  EXPECT_TRUE(r.problems.empty());
}

TEST(Received, PostfixTlsIpv6CommentAfterDate) {
  auto r = parse_received(
      "from s.example (unknown [IPv6:2a01:7c8:aab6:26d:5054:ff:fed1:1da2]) (using TLSv1.2 with "
      "cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)) (Client did not present a certificate) "
      "by mx1.example (Postfix) with ESMTPS id CF0171862 for <a@b.example>; Mon,  6 Jul 2015 "
      "09:01:20 +0000 (UTC) (envelope-from a@c.example)");
  EXPECT_EQ(r.helo, "s.example");
  EXPECT_EQ(r.from_host, "");  // "unknown": no verified name
  EXPECT_EQ(r.from_ip, "2a01:7c8:aab6:26d:5054:ff:fed1:1da2");
  EXPECT_EQ(r.by_host, "mx1.example");
  EXPECT_EQ(r.with, "ESMTPS");
  EXPECT_EQ(r.id, "CF0171862");
  EXPECT_EQ(r.for_addr, "<a@b.example>");
  EXPECT_EQ(utc(r), "2015-07-06T09:01:20Z");
  EXPECT_EQ(r.tls, true);
  EXPECT_EQ(r.authenticated, false);
}

TEST(Received, PostfixLocalNoFrom) {
  auto r = parse_received(
      "by example.com (Postfix, from userid 1001) id 1234ABCD; Thu, 21 Jun 2018 08:00:00 +0000 "
      "(UTC)");
  EXPECT_FALSE(r.has_from);
  EXPECT_EQ(r.helo, "");
  EXPECT_EQ(r.from_ip, "");
  EXPECT_EQ(r.by_host, "example.com");
  EXPECT_EQ(r.id, "1234ABCD");
  EXPECT_EQ(utc(r), "2018-06-21T08:00:00Z");
  EXPECT_TRUE(r.problems.empty());
}

TEST(Received, SendmailNestedComment) {
  auto r = parse_received(
      "from mx56.example (host.rev.example [64.119.196.56] (may be forged)) by mail.example "
      "(8.13.1/8.13.1) with ESMTP id i8FJcSRZ007847 for <u@example>; Wed, 15 Sep 2004 12:38:28 "
      "-0700");
  EXPECT_EQ(r.helo, "mx56.example");
  EXPECT_EQ(r.from_host, "host.rev.example");
  EXPECT_EQ(r.from_ip, "64.119.196.56");
  EXPECT_TRUE(r.rdns_may_be_forged);
  EXPECT_EQ(r.by_host, "mail.example");
  EXPECT_EQ(r.id, "i8FJcSRZ007847");
  EXPECT_EQ(r.for_addr, "<u@example>");
  EXPECT_EQ(utc(r), "2004-09-15T19:38:28Z");
}

TEST(Received, SendmailAuthenticatedAddressLiteralHelo) {
  auto r = parse_received(
      "from [192.168.1.20] (p1234.isp.example [203.0.113.200]) (authenticated bits=0) by "
      "smtp.isp.example (8.14.4/8.14.4) with ESMTP id 0ASFE012345; Sat, 28 Nov 2026 09:14:10 "
      "+0900");
  EXPECT_EQ(r.helo, "[192.168.1.20]");
  EXPECT_EQ(r.from_host, "p1234.isp.example");
  EXPECT_EQ(r.from_ip, "203.0.113.200");
  EXPECT_EQ(r.by_host, "smtp.isp.example");
  EXPECT_EQ(r.authenticated, true);
  EXPECT_EQ(r.tls, false);
  EXPECT_EQ(utc(r), "2026-11-28T00:14:10Z");
}

TEST(Received, EximHeloInComment) {
  auto r = parse_received(
      "from dsl.example ([66.92.76.133] helo=pendaran.example) by mx1.example with esmtp "
      "(TLSv1:AES256-SHA:256) (Exim 4.41) id 1CIlfc-0003Pa-8W for u@example; Tue, 05 Oct 2004 "
      "07:09:36 -0700");
  EXPECT_EQ(r.helo, "pendaran.example");
  EXPECT_EQ(r.from_host, "dsl.example");
  EXPECT_EQ(r.from_ip, "66.92.76.133");
  EXPECT_EQ(r.by_host, "mx1.example");
  EXPECT_EQ(r.with, "esmtp");
  EXPECT_EQ(r.tls, true);  // the cipher comment, not the protocol name
  EXPECT_EQ(r.authenticated, false);
  EXPECT_EQ(r.id, "1CIlfc-0003Pa-8W");
  EXPECT_EQ(r.for_addr, "u@example");
  EXPECT_EQ(utc(r), "2004-10-05T14:09:36Z");
}

TEST(Received, Exim3DottedPort) {
  auto r =
      parse_received("from x ([10.0.8.6.13219] helo=x) by y with smtp; 1 Jan 2001 00:00:00 +0000");
  EXPECT_EQ(r.from_ip, "10.0.8.6");
  EXPECT_EQ(r.helo, "x");
}

TEST(Received, EximIpv6WithPort) {
  auto r = parse_received(
      "from h.example ([2a02:898:31:0:48:4558:736d:7470]:38689 helo=mx.example) by y with esmtps "
      "(TLS1.2) tls TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 (Exim 4.92) (envelope-from <a@b>) id "
      "1hX; Tue, 05 Oct 2004 07:09:36 -0700");
  EXPECT_EQ(r.from_ip, "2a02:898:31:0:48:4558:736d:7470");
  EXPECT_EQ(r.helo, "mx.example");
  EXPECT_EQ(r.from_host, "h.example");
  EXPECT_EQ(r.with, "esmtps");
  EXPECT_EQ(r.tls, true);
  EXPECT_EQ(r.id, "1hX");
}

TEST(Received, QmailLocal) {
  auto r = parse_received("(qmail 10681 invoked by uid 404); 14 Nov 2003 08:05:52 -0000");
  EXPECT_FALSE(r.has_from);
  EXPECT_FALSE(r.has_by);
  EXPECT_EQ(utc(r), "2003-11-14T08:05:52Z");
  ASSERT_TRUE(r.date);
  EXPECT_TRUE(r.date->zone_unknown);
  ASSERT_EQ(r.comments.size(), 1u);
  EXPECT_EQ(r.comments[0], "qmail 10681 invoked by uid 404");
}

TEST(Received, QmailNetworkIdent) {
  auto r = parse_received(
      "from postfix3-2.example (foobar@213.228.0.129) by totor.example with SMTP; 14 Nov 2003 "
      "08:05:50 -0000");
  EXPECT_EQ(r.helo, "postfix3-2.example");
  EXPECT_EQ(r.from_host, "postfix3-2.example");
  EXPECT_EQ(r.from_ident, "foobar");
  EXPECT_EQ(r.from_ip, "213.228.0.129");
  EXPECT_EQ(r.by_host, "totor.example");
  EXPECT_EQ(r.with, "SMTP");
  EXPECT_EQ(utc(r), "2003-11-14T08:05:50Z");
}

TEST(Received, QmailHeloComment) {
  auto r = parse_received(
      "from c.netpar.com.br (HELO apus.netpar.com.br) (189.125.104.100) by smtp.customers.net "
      "with SMTP; 22 Aug 2016 09:22:13 -0000");
  EXPECT_EQ(r.helo, "apus.netpar.com.br");
  EXPECT_EQ(r.from_host, "c.netpar.com.br");
  EXPECT_EQ(r.from_ip, "189.125.104.100");
  auto u = parse_received(
      "from unknown (HELO ) (185.137.84.106) by smtp.customers.net with SMTP; "
      "24 May 2016 12:30:11 -0000");
  EXPECT_EQ(u.helo, "");
  EXPECT_EQ(u.from_host, "");
  EXPECT_EQ(u.from_ip, "185.137.84.106");
}

TEST(Received, ExchangeFrontEnd) {
  auto r = parse_received(
      "from vmta6.example.org (199.204.166.217) by BN3NAM04FT003.mail.protection.outlook.com "
      "(10.152.92.112) with Microsoft SMTP Server id 15.20.696.11 via Frontend Transport; Sat, "
      "21 Apr 2018 03:01:32 +0000");
  EXPECT_EQ(r.helo, "vmta6.example.org");
  EXPECT_EQ(r.from_host, "vmta6.example.org");
  EXPECT_EQ(r.from_ip, "199.204.166.217");
  EXPECT_EQ(r.by_host, "BN3NAM04FT003.mail.protection.outlook.com");
  EXPECT_EQ(r.by_ip, "10.152.92.112");
  EXPECT_EQ(r.with, "Microsoft SMTP Server");
  EXPECT_EQ(r.id, "15.20.696.11");
  EXPECT_EQ(r.via, "Frontend Transport");
  EXPECT_EQ(r.tls, std::nullopt);
  EXPECT_EQ(utc(r), "2018-04-21T03:01:32Z");
  EXPECT_TRUE(r.problems.empty());
}

TEST(Received, Microsoft365Https) {
  auto r = parse_received(
      "from BN3NAM04HT205.eop-NAM04.prod.protection.outlook.com (2a01:111:e400:c418::34) by "
      "SN1PR16MB0494.namprd16.prod.outlook.com with HTTPS via "
      "SN1PR15CA0024.NAMPRD15.PROD.OUTLOOK.COM; Sat, 21 Apr 2018 03:01:33 +0000");
  EXPECT_EQ(r.from_ip, "2a01:111:e400:c418::34");
  EXPECT_EQ(r.by_host, "SN1PR16MB0494.namprd16.prod.outlook.com");
  EXPECT_EQ(r.with, "HTTPS");
  EXPECT_EQ(r.via, "SN1PR15CA0024.NAMPRD15.PROD.OUTLOOK.COM");
  EXPECT_EQ(r.tls, true);
}

TEST(Received, Microsoft365MapiZoneId) {
  auto r = parse_received(
      "from AM5PR0402MB2836.eurprd04.prod.outlook.com ([fe80::19bd:c588:dd17:5226]) by "
      "AM5PR0402MB2836.eurprd04.prod.outlook.com ([fe80::19bd:c588:dd17:5226%6]) with mapi id "
      "15.20.1943.023; Wed, 5 Jun 2019 10:17:08 +0000");
  EXPECT_EQ(r.from_ip, "fe80::19bd:c588:dd17:5226");
  EXPECT_EQ(r.from_host, "AM5PR0402MB2836.eurprd04.prod.outlook.com");
  EXPECT_EQ(r.by_ip, "fe80::19bd:c588:dd17:5226");
  EXPECT_EQ(r.with, "mapi");
  EXPECT_EQ(r.id, "15.20.1943.023");
  EXPECT_EQ(utc(r), "2019-06-05T10:17:08Z");
}

TEST(Received, ExchangeLoopback) {
  auto r = parse_received(
      "from DS7PR19MB5976.namprd19.prod.outlook.com (::1) by "
      "DS7PR19MB5976.namprd19.prod.outlook.com "
      "(2603:10b6:8:7a::8) with Microsoft SMTP Server (version=TLS1_2, "
      "cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.1; Mon, 1 Jan 2024 00:00:00 +0000");
  EXPECT_EQ(r.from_ip, "::1");
  EXPECT_EQ(r.by_ip, "2603:10b6:8:7a::8");
  EXPECT_EQ(r.with, "Microsoft SMTP Server");
  EXPECT_EQ(r.tls, true);
}

TEST(Received, GmailInternal) {
  auto r = parse_received(
      "by 2002:a67:f8c8:0:0:0:0:0 with SMTP id c8csp1206370vsp; Mon, 7 Jan 2019 05:36:12 -0800 "
      "(PST)");
  EXPECT_FALSE(r.has_from);
  EXPECT_EQ(r.by_host, "2002:a67:f8c8:0:0:0:0:0");
  EXPECT_EQ(r.by_ip, "2002:a67:f8c8::");
  EXPECT_EQ(r.with, "SMTP");
  EXPECT_EQ(r.id, "c8csp1206370vsp");
  EXPECT_EQ(utc(r), "2019-01-07T13:36:12Z");
}

TEST(Received, GmailMxTrailingDot) {
  auto r = parse_received(
      "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com "
      "with SMTPS id r1sor123 for <u@example> (Google Transport Security); Mon, 07 Jan 2019 "
      "05:36:12 -0800 (PST)");
  EXPECT_EQ(r.from_host, "mail-sor-f41.google.com");
  EXPECT_EQ(r.from_ip, "209.85.220.41");
  EXPECT_EQ(r.with, "SMTPS");
  EXPECT_EQ(r.id, "r1sor123");
  EXPECT_EQ(r.for_addr, "<u@example>");
  EXPECT_EQ(r.tls, true);
  EXPECT_EQ(r.authenticated, false);
}

TEST(Received, WebmailSemicolonInClauses) {
  auto r = parse_received(
      "from 153.90.199.141 (SquirrelMail authenticated user admin); by web1.example with HTTP; "
      "Thu, 23 Sep 2004 13:30:29 -0600 (MDT)");
  EXPECT_EQ(r.from_ip, "153.90.199.141");
  EXPECT_EQ(r.from_host, "");
  EXPECT_EQ(r.by_host, "web1.example");
  EXPECT_EQ(r.with, "HTTP");
  EXPECT_EQ(r.authenticated, true);
  EXPECT_EQ(r.tls, false);
  EXPECT_EQ(utc(r), "2004-09-23T19:30:29Z");
}

TEST(Received, DataAfterTheDate) {
  auto r = parse_received(
      "from x by y with ESMTP; Thu, 10 Nov 2005 08:24:21 -0600 id 000000DB.43735815.00001E11");
  EXPECT_EQ(r.helo, "x");
  EXPECT_EQ(r.by_host, "y");
  EXPECT_EQ(utc(r), "2005-11-10T14:24:21Z");
}

TEST(Received, FreeText) {
  auto r = parse_received(
      "by e06smtp10.uk.ibm.com with IBM ESMTP SMTP Gateway: Authorized Use Only! Violators will "
      "be prosecuted for <a@b> from <c@d>; Mon, 1 Jan 2018 00:00:00 +0000");
  EXPECT_EQ(r.by_host, "e06smtp10.uk.ibm.com");
  EXPECT_EQ(r.with, "IBM ESMTP SMTP Gateway: Authorized Use Only! Violators will be prosecuted");
  EXPECT_EQ(r.for_addr, "<a@b>");
  EXPECT_FALSE(r.has_from);  // "from" after other clauses is text
  EXPECT_EQ(utc(r), "2018-01-01T00:00:00Z");
  EXPECT_FALSE(r.problems.empty());  // "from <c@d>" is reported as unparsed
}

TEST(Received, KeywordLikeTlds) {
  auto r = parse_received(
      "from mail.company.by (mail.company.by [192.0.2.5]) by relay.example.id with ESMTP; Mon, 1 "
      "Jan 2018 00:00:00 +0000");
  EXPECT_EQ(r.helo, "mail.company.by");
  EXPECT_EQ(r.from_host, "mail.company.by");
  EXPECT_EQ(r.from_ip, "192.0.2.5");
  EXPECT_EQ(r.by_host, "relay.example.id");
  EXPECT_EQ(r.with, "ESMTP");
}

TEST(Received, FetchmailBracketWord) {
  auto r = parse_received(
      "from dogma.slashnull.org [212.17.35.15] by localhost with IMAP (fetchmail-5.9.0) for "
      "jm@localhost (single-drop); Tue, 02 Jul 2002 12:49:36 +0100 (IST)");
  EXPECT_EQ(r.from_ip, "212.17.35.15");
  EXPECT_EQ(r.from_host, "dogma.slashnull.org");
  EXPECT_EQ(r.by_host, "localhost");
  EXPECT_EQ(r.with, "IMAP");
  EXPECT_EQ(r.for_addr, "jm@localhost");
}

TEST(Received, DateForms) {
  EXPECT_EQ(utc(parse_received("from a by b; Mon, 1 Jan 2018 17:40:44-0500")),
            "2018-01-01T22:40:44Z");
  EXPECT_EQ(utc(parse_received("from a by b; Sun Nov 13 14:50:12 2005")), "2005-11-13T14:50:12Z");
  EXPECT_EQ(utc(parse_received("from a by b; 2018-04-22 02:54:17.028704749 +0000 UTC")),
            "2018-04-22T02:54:17Z");
  EXPECT_EQ(utc(parse_received(
                "from a by b; 2018-04-22 02:54:17.028704749 +0000 UTC m=+555016.724468750")),
            "2018-04-22T02:54:17Z");
  EXPECT_EQ(utc(parse_received("from a by b; Sun, 22 Apr 2018 02:54:16.987 +0000 (UTC)")),
            "2018-04-22T02:54:16Z");
  auto nozone = parse_received("from a by b; Sun, 22 Apr 2018 02:54:16");
  ASSERT_TRUE(nozone.date);
  EXPECT_TRUE(nozone.date->zone_missing);
}

TEST(Received, Broken) {
  auto a = parse_received("22 Apr 2018");
  EXPECT_FALSE(a.date);
  EXPECT_FALSE(a.problems.empty());
  auto b = parse_received(";");
  EXPECT_FALSE(b.date);
  EXPECT_FALSE(b.problems.empty());
  auto c = parse_received(
      "from o1.sendgrid.example (o1.sendgrid.example [167.89.1.2]) by mx.example with SMTP id "
      "abc Mon, 1 Jan 2018 00:00:00 +0000");
  EXPECT_EQ(c.id, "abc");
  EXPECT_EQ(utc(c), "2018-01-01T00:00:00Z");
  EXPECT_FALSE(c.problems.empty());  // "no ';' before the date"
  auto d = parse_received("from  by 24.3.96.11; Thu, 05 Feb 2004 00:24:38 +0500");
  EXPECT_EQ(d.by_host, "24.3.96.11");
  EXPECT_EQ(d.by_ip, "24.3.96.11");
  auto e = parse_received(
      "from [130.210.145.27] (account x@tin.it HELO kzr.example)\tby  "
      "(Postfix)\twith ESMTPA id 24h for y@z; Tue, 24 May 2016 13:09:41 +0100");
  EXPECT_EQ(e.from_ip, "130.210.145.27");
  EXPECT_EQ(e.helo, "kzr.example");
  EXPECT_EQ(e.from_ident, "x@tin.it");
  EXPECT_EQ(e.by_host, "");
  EXPECT_EQ(e.authenticated, true);
}

TEST(Received, GarbageNeverCrashes) {
  const char* inputs[] = {"",
                          "(",
                          ")",
                          "((((",
                          "from",
                          "from (",
                          "by [",
                          "[IPv6:",
                          "for <",
                          "; ; ;",
                          "from x (y [1.2.3.4",
                          "\xff\xfe\x00z",
                          "with",
                          "id id id"};
  for (const char* in : inputs) {
    auto r = parse_received(in);
    (void)r;
  }
  std::string value =
      "from a.example (rdns.example [82.65.66.244]) by mx.example (Postfix) with ESMTP id "
      "7BACDC372 for <x@y.example>; Fri, 14 Nov 2003 09:05:49 +0100 (CET)";
  // Every prefix and suffix (the input split at each byte boundary) parses without a crash.
  for (std::size_t i = 0; i <= value.size(); ++i) {
    (void)parse_received(value.substr(0, i));
    (void)parse_received(value.substr(i));
  }
}

TEST(Received, FormatRoundTrips) {
  ReceivedStamp st;
  st.helo = "client.example";
  st.rdns = "rdns.example";
  st.ip = "2001:db8::5";
  st.by_host = "mx.tegami.test";
  st.protocol = "ESMTPSA";
  st.tls_info = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384";
  st.id = "Q123";
  st.for_addr = "u@tegami.test";
  st.time = sys_days{year{2024} / 3 / 5} + hours{7} + minutes{8} + seconds{9};
  st.offset_minutes = 9 * 60;
  std::string v = format_received(st);
  EXPECT_EQ(v,
            "from client.example (rdns.example [IPv6:2001:db8::5])\r\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
            "\tby mx.tegami.test (tegami) with ESMTPSA id Q123\r\n"
            "\tfor <u@tegami.test>; Tue, 5 Mar 2024 16:08:09 +0900");
  std::string unfolded;
  for (char c : v)
    if (c != '\r' && c != '\n') unfolded.push_back(c);
  auto r = parse_received(unfolded);
  EXPECT_EQ(r.helo, "client.example");
  EXPECT_EQ(r.from_host, "rdns.example");
  EXPECT_EQ(r.from_ip, "2001:db8::5");
  EXPECT_EQ(r.by_host, "mx.tegami.test");
  EXPECT_EQ(r.with, "ESMTPSA");
  EXPECT_EQ(r.tls, true);
  EXPECT_EQ(r.authenticated, true);
  EXPECT_EQ(r.id, "Q123");
  EXPECT_EQ(r.for_addr, "<u@tegami.test>");
  EXPECT_EQ(utc(r), "2024-03-05T07:08:09Z");
  EXPECT_TRUE(r.problems.empty());
}

TEST(Received, FormatLocalRoundTrips) {
  LocalStamp st;
  st.by_host = "mail.tegami.test";
  st.id = "14D2260DF800001";
  st.time = sys_days{year{2024} / 3 / 5} + hours{7} + minutes{8} + seconds{9};
  st.offset_minutes = -5 * 60;
  std::string v = format_local_received(st);
  EXPECT_EQ(v,
            "from localhost\r\n"
            "\tby mail.tegami.test (tegami) id 14D2260DF800001; Tue, 5 Mar 2024 02:08:09 -0500");
  std::string unfolded;
  for (char c : v)
    if (c != '\r' && c != '\n') unfolded.push_back(c);
  auto r = parse_received(unfolded);
  EXPECT_TRUE(r.has_from);
  EXPECT_TRUE(r.has_by);
  EXPECT_EQ(r.helo, "localhost");
  EXPECT_EQ(r.from_ip, "");
  EXPECT_EQ(r.by_host, "mail.tegami.test");
  EXPECT_EQ(r.with, "");
  EXPECT_EQ(r.id, "14D2260DF800001");
  EXPECT_EQ(utc(r), "2024-03-05T07:08:09Z");
  EXPECT_TRUE(r.problems.empty());
}

TEST(Received, FormatNeutralisesHostileHelo) {
  ReceivedStamp st;
  st.helo = "evil) by forged.example; Mon\r\nX-Injected: 1";
  st.ip = "192.0.2.1";
  st.by_host = "mx.tegami.test";
  st.time = sys_days{year{2024} / 1 / 1};
  std::string v = format_received(st);
  EXPECT_EQ(v.find("X-Injected: 1\r"), std::string::npos);
  EXPECT_EQ(v.find('\n'), v.find("\r\n\tby") + 1);
  auto r = parse_received(v);
  EXPECT_EQ(r.by_host, "mx.tegami.test");
  EXPECT_EQ(r.from_ip, "192.0.2.1");
  EXPECT_EQ(r.from_host, "");  // no rDNS: "unknown"
}

}  // namespace
}  // namespace tegami::mail
