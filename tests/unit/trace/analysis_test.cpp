// Route analysis: delays, clock skew, chain consistency, origin, verdict.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mail/header.hpp"
#include "trace/report.hpp"

namespace tegami::trace {
namespace {

// A message whose Received: fields are given top first, as in a header.
Report run(const std::vector<std::string>& received, const std::string& extra,
           const Options& opts = {}) {
  std::string m;
  for (const auto& r : received) m += "Received: " + r + "\r\n";
  m += extra + "\r\nbody\r\n";
  return analyze(mail::parse_header(m), opts);
}

const std::string kDate = "Date: Mon, 1 Jan 2018 10:00:00 +0000\r\n";

std::string hop(const std::string& from, const std::string& ip, const std::string& by,
                const std::string& when, const std::string& with = "ESMTP") {
  return "from " + from + " (" + from + " [" + ip + "]) by " + by + " with " + with + "; " + when;
}

TEST(Delays, DelaysTotalAndSlowest) {
  auto r = run({hop("b.example", "198.51.100.2", "c.example", "Mon, 1 Jan 2018 10:01:37 +0000"),
                hop("a.example", "203.0.113.1", "b.example", "Mon, 1 Jan 2018 11:00:07 +0100")},
               kDate + "From: x@a.example\r\n");
  ASSERT_EQ(r.hops.size(), 2u);
  EXPECT_EQ(r.hops[0].rx.by_host, "b.example");  // the bottom field is hop 1
  EXPECT_EQ(r.hops[0].delay_seconds, 7);
  EXPECT_EQ(r.hops[1].delay_seconds, 90);
  EXPECT_EQ(r.total_seconds, 97);
  EXPECT_EQ(r.slowest_hop, 2);
  EXPECT_TRUE(r.clock_skew.empty());
}

TEST(Delays, NoDateCountsFromHopOne) {
  auto r = run({hop("b.example", "198.51.100.2", "c.example", "Mon, 1 Jan 2018 10:01:00 +0000"),
                hop("a.example", "203.0.113.1", "b.example", "Mon, 1 Jan 2018 10:00:00 +0000")},
               "From: x@a.example\r\n");
  EXPECT_EQ(r.hops[0].delay_seconds, std::nullopt);
  EXPECT_EQ(r.hops[1].delay_seconds, 60);
  EXPECT_EQ(r.total_seconds, 60);
}

TEST(Delays, HopBehindIsSkewAndNextHopIsNotInflated) {
  // Hop 2's clock is 5 hours behind; hop 3 must not show +5h.
  auto r = run({hop("c.example", "198.51.100.3", "d.example", "Mon, 1 Jan 2018 10:00:20 +0000"),
                hop("b.example", "198.51.100.2", "c.example", "Mon, 1 Jan 2018 05:00:10 +0000"),
                hop("a.example", "203.0.113.1", "b.example", "Mon, 1 Jan 2018 10:00:05 +0000")},
               kDate);
  EXPECT_EQ(r.hops[0].delay_seconds, 5);
  EXPECT_TRUE(r.hops[1].clock_skew);
  EXPECT_EQ(r.hops[1].delay_seconds, std::nullopt);
  EXPECT_EQ(r.hops[1].skew_seconds, -(5 * 3600 + 10));  // against hop 3, the next on the route
  EXPECT_EQ(r.hops[2].delay_seconds, 15);
  EXPECT_EQ(r.clock_skew, std::vector<int>{2});
  EXPECT_EQ(r.total_seconds, 20);
  EXPECT_EQ(r.slowest_hop, 3);
}

TEST(Delays, HopAheadIsSkewNotASlowHop) {
  // The Gmail "17998 seconds" case: one server's zone is wrong by 5 hours.
  auto r = run({hop("c.example", "198.51.100.3", "d.example", "Mon, 1 Jan 2018 10:00:20 +0000"),
                hop("b.example", "198.51.100.2", "c.example", "Mon, 1 Jan 2018 15:00:10 +0000"),
                hop("a.example", "203.0.113.1", "b.example", "Mon, 1 Jan 2018 10:00:05 +0000")},
               kDate);
  EXPECT_EQ(r.clock_skew, std::vector<int>{2});
  EXPECT_EQ(r.hops[1].delay_seconds, std::nullopt);
  EXPECT_EQ(r.hops[2].delay_seconds, 15);
  EXPECT_EQ(r.slowest_hop, 3);
}

TEST(Delays, DateLaterThanHopOneIsSkew) {
  auto r =
      run({hop("a.example", "203.0.113.1", "b.example", "Mon, 1 Jan 2018 09:59:00 +0000")}, kDate);
  EXPECT_EQ(r.clock_skew, std::vector<int>{1});
  EXPECT_EQ(r.hops[0].delay_seconds, std::nullopt);
  EXPECT_EQ(r.hops[0].skew_seconds, -60);
}

TEST(Delays, MissingDateIsMissingNotSkew) {
  auto r = run({hop("b.example", "198.51.100.2", "c.example", "Mon, 1 Jan 2018 10:00:30 +0000"),
                "from a.example (a.example [203.0.113.1]) by b.example with ESMTP",
                hop("x.example", "203.0.113.9", "a.example", "Mon, 1 Jan 2018 10:00:10 +0000")},
               kDate);
  EXPECT_TRUE(r.clock_skew.empty());
  EXPECT_EQ(r.hops[1].time, std::nullopt);
  EXPECT_EQ(r.hops[1].delay_seconds, std::nullopt);
  EXPECT_EQ(r.hops[2].delay_seconds, 20);  // from the previous dated hop
  EXPECT_FALSE(r.problems.empty());
}

TEST(Origin, EarliestPublicElseAny) {
  auto r = run({hop("b.example", "198.51.100.2", "c.example", "Mon, 1 Jan 2018 10:00:30 +0000"),
                hop("pc", "192.168.1.5", "b.example", "Mon, 1 Jan 2018 10:00:10 +0000")},
               kDate);
  ASSERT_TRUE(r.origin);
  EXPECT_EQ(r.origin->ip, "198.51.100.2");
  EXPECT_EQ(r.origin->hop, 2);
  auto p = run({hop("pc", "10.1.2.3", "b.example", "Mon, 1 Jan 2018 10:00:10 +0000")}, kDate);
  ASSERT_TRUE(p.origin);
  EXPECT_EQ(p.origin->ip, "10.1.2.3");
  auto none = run({"by b.example with ESMTP; Mon, 1 Jan 2018 10:00:10 +0000"}, kDate);
  EXPECT_FALSE(none.origin);
}

TEST(Chain, BreakMarksLowerHopsUnverified) {
  auto r = run({hop("evil.example", "45.83.12.7", "mx.example", "Mon, 1 Jan 2018 10:00:30 +0000"),
                hop("x.example", "198.51.100.7", "relay.other", "Mon, 1 Jan 2018 10:00:20 +0000"),
                hop("y.example", "198.51.100.8", "x.example", "Mon, 1 Jan 2018 10:00:10 +0000")},
               kDate);
  EXPECT_FALSE(r.hops[1].chain_break);  // x.example -> x.example links
  EXPECT_TRUE(r.hops[2].chain_break);   // evil.example is not relay.other
  EXPECT_TRUE(r.hops[0].unverified);
  EXPECT_TRUE(r.hops[1].unverified);
  EXPECT_FALSE(r.hops[2].unverified);
}

TEST(Chain, InternalAndLoopbackHopsLink) {
  auto r = run({"from localhost (localhost [127.0.0.1]) by mx.example (Postfix) with ESMTP; Mon, 1 "
                "Jan 2018 10:00:30 +0000",
                "from mx.example ([127.0.0.1]) by localhost (amavisd-new) with ESMTP; Mon, 1 Jan "
                "2018 10:00:20 +0000",
                "from out.sender.example (out.sender.example [198.51.100.7]) by mx.example "
                "(Postfix) with ESMTPS; Mon, 1 Jan 2018 10:00:10 +0000",
                "by 2002:a17:90a::1 with SMTP id x; Mon, 1 Jan 2018 10:00:05 +0000"},
               kDate);
  for (const auto& h : r.hops) {
    EXPECT_FALSE(h.chain_break) << h.index;
    EXPECT_FALSE(h.unverified) << h.index;
  }
}

TEST(Chain, HeloOnlyLinkLeavesLowerHopUnverified) {
  // The sender's own machine "pc" is named by HELO only, from a public address.
  auto r = run({"from pc (dyn-1.isp.example [198.51.100.9]) by smtp.isp.example with ESMTP; Mon, "
                "1 Jan 2018 10:00:30 +0000",
                "by pc (Postfix, from userid 1000) id 1; Mon, 1 Jan 2018 10:00:20 +0000"},
               kDate);
  EXPECT_FALSE(r.hops[1].chain_break);
  EXPECT_TRUE(r.hops[0].unverified);
}

Options own_isp() {
  Options o;
  o.own.add_domain("isp.example.jp");
  o.own.add_relay("*.isp.example.jp");
  o.own.add_relay("203.0.113.0/24");
  o.trusted_authserv_ids = {"mx.isp.example.jp"};
  return o;
}

TEST(Verdict, ForgedOwnDomainFromOutside) {
  auto r = run({"from mail.bulk-sender.example (mail.bulk-sender.example [45.83.12.7]) by "
                "mx.isp.example.jp (Postfix) with ESMTP id 1; Mon, 1 Jan 2018 10:00:30 +0000"},
               kDate + "From: Support <support@isp.example.jp>\r\n", own_isp());
  EXPECT_TRUE(r.verdict.spoofing_suspected);
  ASSERT_EQ(r.verdict.reasons.size(), 1u);
  EXPECT_EQ(r.verdict.reasons[0],
            "From claims isp.example.jp, but the message entered at mx.isp.example.jp from "
            "45.83.12.7 (mail.bulk-sender.example) without authentication");
}

TEST(Verdict, GenuineAuthenticatedSubmission) {
  auto r = run({"from smtp.isp.example.jp (smtp.isp.example.jp [203.0.113.5]) by "
                "mx.isp.example.jp with ESMTP; Mon, 1 Jan 2018 10:00:30 +0000",
                "from [192.168.1.20] (p1.dsl.other.example [198.51.100.200]) (authenticated "
                "bits=0) by smtp.isp.example.jp with ESMTP; Mon, 1 Jan 2018 10:00:10 +0000"},
               kDate + "From: user@isp.example.jp\r\n", own_isp());
  EXPECT_FALSE(r.verdict.spoofing_suspected) << r.verdict.reasons[0];
}

TEST(Verdict, GenuineFromOurNetworkWithoutAuth) {
  auto r = run({"from pc (pc.isp.example.jp [203.0.113.77]) by smtp.isp.example.jp with ESMTP; "
                "Mon, 1 Jan 2018 10:00:10 +0000"},
               kDate + "From: user@isp.example.jp\r\n", own_isp());
  EXPECT_FALSE(r.verdict.spoofing_suspected);
}

TEST(Verdict, FakeLowerHopsDoNotHelp) {
  // The forger wrote an "authenticated" hop at our relay below the real one.
  auto r = run({"from smtp.isp.example.jp (mail.bulk-sender.example [45.83.12.7]) by "
                "mx.isp.example.jp with ESMTP; Mon, 1 Jan 2018 10:00:30 +0000",
                "from [203.0.113.9] (pc.isp.example.jp [203.0.113.9]) by smtp.isp.example.jp "
                "with ESMTPSA; Mon, 1 Jan 2018 10:00:10 +0000"},
               kDate + "From: user@isp.example.jp\r\n", own_isp());
  EXPECT_TRUE(r.hops[0].unverified);
  EXPECT_TRUE(r.verdict.spoofing_suspected);
}

TEST(Verdict, ReturnPathAndNoRoute) {
  auto r =
      run({}, kDate + "From: a@other.example\r\nReturn-Path: <b@isp.example.jp>\r\n", own_isp());
  EXPECT_TRUE(r.verdict.spoofing_suspected);
  EXPECT_NE(r.verdict.reasons.at(0).find("Return-Path claims isp.example.jp"), std::string::npos);
}

TEST(Verdict, ForeignDomainIsNotJudgedByRoute) {
  auto r =
      run({hop("a.example", "45.83.12.7", "mx.isp.example.jp", "Mon, 1 Jan 2018 10:00:10 +0000")},
          kDate + "From: a@other.example\r\n", own_isp());
  EXPECT_FALSE(r.verdict.spoofing_suspected);
}

TEST(Verdict, TrustedAuthenticationResults) {
  std::string h =
      hop("a.example", "45.83.12.7", "mx.isp.example.jp", "Mon, 1 Jan 2018 10:00:10 +0000");
  auto fail = run({h},
                  kDate +
                      "From: a@bank.example\r\n"
                      "Authentication-Results: mx.isp.example.jp; spf=pass "
                      "smtp.mailfrom=a.example; dkim=none; dmarc=fail "
                      "header.from=bank.example\r\n",
                  own_isp());
  EXPECT_EQ(fail.auth.spf, "pass");
  EXPECT_EQ(fail.auth.dkim, "none");
  EXPECT_EQ(fail.auth.dmarc, "fail");
  EXPECT_TRUE(fail.verdict.spoofing_suspected);

  auto untrusted = run({h},
                       kDate +
                           "From: a@bank.example\r\n"
                           "Authentication-Results: forged.example; dmarc=fail "
                           "header.from=bank.example\r\n",
                       own_isp());
  EXPECT_EQ(untrusted.auth.dmarc, "not_checked");
  EXPECT_FALSE(untrusted.verdict.spoofing_suspected);

  auto other_domain = run({h},
                          kDate +
                              "From: a@bank.example\r\n"
                              "Authentication-Results: mx.isp.example.jp; spf=fail "
                              "smtp.mailfrom=bounce.other.example\r\n",
                          own_isp());
  EXPECT_EQ(other_domain.auth.spf, "fail");
  EXPECT_FALSE(other_domain.verdict.spoofing_suspected);

  auto dkim_two = run({h},
                      kDate +
                          "From: a@bank.example\r\n"
                          "Authentication-Results: mx.isp.example.jp; dkim=fail "
                          "header.d=bank.example; dkim=pass header.d=bank.example\r\n",
                      own_isp());
  EXPECT_EQ(dkim_two.auth.dkim, "pass");
  EXPECT_FALSE(dkim_two.verdict.spoofing_suspected);
}

TEST(Analysis, EmptyAndGarbageNeverCrash) {
  for (std::string m : {std::string(""), std::string("\r\n"), std::string("Received:\r\n\r\n"),
                        std::string("Received: ;\r\nReceived: (\r\nDate: x\r\nFrom: <\r\n"),
                        std::string("\xFF\xFE\x00\x01", 4)}) {
    auto r = analyze(mail::parse_header(m), own_isp());
    (void)r;
  }
}

}  // namespace
}  // namespace tegami::trace
