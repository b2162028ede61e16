// The queue's pure rules: retry schedule, outcome recording, lifetime,
// delay warnings, due recipients; and next-hop selection.
#include "server/queue_schedule.hpp"

#include <gtest/gtest.h>

#include "server/next_hop.hpp"

namespace tegami::server {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

QueuePolicy policy() {
  QueuePolicy p;
  p.retry = {minutes(5), minutes(15), minutes(30), hours(1), hours(2), hours(4)};
  p.lifetime = hours(5 * 24);
  p.delay_warning = hours(4);
  return p;
}

const TimePoint kT0 = TimePoint(seconds(1700000000));

QueueEntry entry(std::vector<std::string> rcpts) {
  QueueEntry e;
  e.id = "0A";
  e.sender = "alice@example.test";
  e.created = kT0;
  for (auto& a : rcpts) {
    QueueRecipient r;
    r.address = a;
    r.next_attempt = kT0;
    e.recipients.push_back(r);
  }
  return e;
}

DeliveryOutcome outcome(smtp::RecipientResult r, std::string status, std::string diag) {
  DeliveryOutcome o;
  o.result = r;
  o.status = std::move(status);
  o.diagnostic = std::move(diag);
  o.remote_mta = "mx.dest.test";
  if (o.diagnostic.rfind("smtp;", 0) == 0) o.stage = "RCPT TO";
  return o;
}

TEST(QueueSchedule, RetryDelays) {
  auto p = policy();
  std::vector<seconds> got;
  for (unsigned n = 1; n <= 9; ++n) got.push_back(retry_delay(p, n));
  std::vector<seconds> want = {minutes(5), minutes(15), minutes(30), hours(1), hours(2),
                               hours(4),   hours(4),    hours(4),    hours(4)};
  EXPECT_EQ(got, want);
  QueuePolicy one;
  one.retry = {seconds(1)};
  EXPECT_EQ(retry_delay(one, 1), seconds(1));
  EXPECT_EQ(retry_delay(one, 50), seconds(1));
}

TEST(QueueSchedule, ApplyOutcome) {
  auto p = policy();
  auto e = entry({"a@dest.test"});
  auto& r = e.recipients[0];
  auto temp = outcome(smtp::RecipientResult::kTemporary, "4.4.1", "X-Tegami; connect refused");
  EXPECT_EQ(apply_outcome(r, temp, kT0, kT0, p), RecipientStatus::kPending);
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(r.next_attempt, kT0 + minutes(5));
  EXPECT_EQ(r.last_attempt, kT0);
  EXPECT_EQ(r.diagnostic, "X-Tegami; connect refused");
  auto t1 = kT0 + minutes(5);
  EXPECT_EQ(apply_outcome(r, temp, t1, kT0, p), RecipientStatus::kPending);
  EXPECT_EQ(r.next_attempt, t1 + minutes(15));
  // A temporary failure after the lifetime: failed with 4.4.7, diagnostic kept.
  auto late = kT0 + hours(5 * 24);
  EXPECT_EQ(apply_outcome(r, temp, late, kT0, p), RecipientStatus::kFailed);
  EXPECT_EQ(r.status_code, "4.4.7");
  EXPECT_EQ(r.diagnostic, "X-Tegami; connect refused");

  auto e2 = entry({"b@dest.test", "c@dest.test"});
  EXPECT_EQ(apply_outcome(e2.recipients[0],
                          outcome(smtp::RecipientResult::kPermanent, "5.1.1", "smtp; 550 5.1.1 no"),
                          kT0, kT0, p),
            RecipientStatus::kFailed);
  EXPECT_EQ(e2.recipients[0].status_code, "5.1.1");
  EXPECT_EQ(e2.recipients[0].remote_mta, "mx.dest.test");
  EXPECT_EQ(e2.recipients[0].stage, "RCPT TO");
  EXPECT_EQ(apply_outcome(e2.recipients[1],
                          outcome(smtp::RecipientResult::kDelivered, "2.0.0", "smtp; 250 ok"), kT0,
                          kT0, p),
            RecipientStatus::kDelivered);
  EXPECT_TRUE(e2.unfinished());  // b still needs its bounce
  e2.recipients[0].status = RecipientStatus::kBounced;
  EXPECT_FALSE(e2.unfinished());
}

TEST(QueueSchedule, DueRecipientsAndNextDue) {
  auto e = entry({"a@dest.test", "b@Other.Test", "c@dest.test", "d@dest.test"});
  e.recipients[2].next_attempt = kT0 + minutes(10);
  e.recipients[3].status = RecipientStatus::kDelivered;
  auto due = due_recipients(e, kT0, false);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due["dest.test"], (std::vector<std::size_t>{0}));
  EXPECT_EQ(due["other.test"], (std::vector<std::size_t>{1}));  // domains compare lower-case
  auto flushed = due_recipients(e, kT0, true);
  EXPECT_EQ(flushed["dest.test"], (std::vector<std::size_t>{0, 2}));

  e.recipients[0].status = RecipientStatus::kDelivered;
  e.recipients[1].status = RecipientStatus::kDelivered;
  EXPECT_EQ(next_due(e, kT0), kT0 + minutes(10));
  e.recipients[1].status = RecipientStatus::kFailed;  // a DSN to send: due now
  EXPECT_EQ(next_due(e, kT0 + seconds(1)), kT0 + seconds(1));
}

TEST(QueueSchedule, DelayWarning) {
  auto p = policy();
  auto e = entry({"a@dest.test", "b@dest.test"});
  e.recipients[1].status = RecipientStatus::kDelivered;
  EXPECT_TRUE(delay_warning_due(e, kT0 + hours(3), p).empty());
  EXPECT_EQ(delay_warning_due(e, kT0 + hours(4), p), (std::vector<std::size_t>{0}));
  e.delay_warned = true;
  EXPECT_TRUE(delay_warning_due(e, kT0 + hours(5), p).empty());  // once
  e.delay_warned = false;
  e.sender = "";
  EXPECT_TRUE(delay_warning_due(e, kT0 + hours(5), p).empty());  // never to <>
  e.sender = "alice@example.test";
  p.delay_warning = seconds(0);
  EXPECT_TRUE(delay_warning_due(e, kT0 + hours(50), p).empty());  // "0": off
}

// RFC 3461: NOTIFY=SUCCESS through a next hop without DSN owes a "relayed"
// DSN (the entry stays unfinished and due until it is sent); through one
// with DSN nothing is owed; delay warnings only where NOTIFY allows them.
TEST(QueueSchedule, DsnNotify) {
  auto p = policy();
  auto e = entry({"a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test"});
  e.recipients[0].notify.bits = mail::DsnNotify::kSuccess;
  e.recipients[1].notify.bits = mail::DsnNotify::kSuccess | mail::DsnNotify::kFailure;
  e.recipients[2].notify.bits = mail::DsnNotify::kNever;
  auto ok = outcome(smtp::RecipientResult::kDelivered, "2.0.0", "smtp; 250 2.0.0 Ok");
  apply_outcome(e.recipients[0], ok, kT0, kT0, p);  // a next hop without DSN
  EXPECT_TRUE(e.recipients[0].relayed_dsn);
  auto with_dsn = ok;
  with_dsn.next_hop_dsn = true;
  apply_outcome(e.recipients[1], with_dsn, kT0, kT0, p);
  EXPECT_FALSE(e.recipients[1].relayed_dsn);
  apply_outcome(e.recipients[3], ok, kT0, kT0, p);  // no NOTIFY: no success notice
  EXPECT_FALSE(e.recipients[3].relayed_dsn);
  EXPECT_EQ(e.recipients[2].status, RecipientStatus::kPending);
  e.recipients[2].status = RecipientStatus::kDelivered;
  EXPECT_TRUE(e.unfinished());
  EXPECT_EQ(next_due(e, kT0 + hours(1)), kT0 + hours(1));
  e.recipients[0].relayed_dsn = false;
  EXPECT_FALSE(e.unfinished());

  auto w = entry({"a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test"});
  w.recipients[0].notify.bits = mail::DsnNotify::kDelay;
  w.recipients[1].notify.bits = mail::DsnNotify::kFailure;
  w.recipients[2].notify.bits = mail::DsnNotify::kNever;
  EXPECT_EQ(delay_warning_due(w, kT0 + hours(5), p), (std::vector<std::size_t>{0, 3}));
}

TEST(DestinationWindow, ProbeGrowAndCollapse) {
  using TP = DestinationWindow::TimePoint;
  TP t0 = TP{} + hours(1000);
  DestinationWindow w(5);
  EXPECT_EQ(w.limit(), 1u);  // a probe first
  EXPECT_FALSE(w.dead(t0));
  // Unreachable before ever being reached: dead at once, for dead_for.
  EXPECT_TRUE(w.unreachable(t0, seconds(60)));
  EXPECT_TRUE(w.dead(t0 + seconds(59)));
  EXPECT_FALSE(w.dead(t0 + seconds(60)));
  EXPECT_EQ(w.limit(), 1u);
  // Reached: each answered message widens the window, up to the maximum.
  for (int i = 0; i < 3; ++i) w.reached(1);
  EXPECT_EQ(w.limit(), 4u);
  for (int i = 0; i < 10; ++i) w.reached(1);
  EXPECT_EQ(w.limit(), 5u);
  // One failure after success halves the window; a second in a row kills.
  EXPECT_FALSE(w.unreachable(t0 + seconds(100), seconds(60)));
  EXPECT_EQ(w.limit(), 2u);
  w.reached(1);  // success in between resets the count
  EXPECT_FALSE(w.unreachable(t0 + seconds(110), seconds(60)));
  EXPECT_TRUE(w.unreachable(t0 + seconds(120), seconds(60)));
  EXPECT_TRUE(w.dead(t0 + seconds(150)));
  EXPECT_EQ(w.limit(), 1u);  // a probe again after it
  DestinationWindow zero(0);
  EXPECT_EQ(zero.limit(), 1u);
}

TEST(NextHop, Routes) {
  std::map<std::string, std::string> routes = {{"example.net", "127.0.0.1:2526"},
                                               {"*", "smarthost.example:587"}};
  EXPECT_EQ(route_for(routes, "example.net"), "127.0.0.1:2526");
  EXPECT_EQ(route_for(routes, "other.org"), "smarthost.example:587");
  EXPECT_EQ(route_for({{"example.net", "1.2.3.4:25"}}, "other.org"), std::nullopt);
  // A route written with U-labels matches the A-label domain of the queue.
  EXPECT_EQ(
      route_for({{"\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", "1.2.3.4:25"}},
                "xn--r8jz45g.xn--zckzah"),
      "1.2.3.4:25");
  EXPECT_EQ(destination_key(routes, "other.org"), "route:smarthost.example:587");
  EXPECT_EQ(destination_key({}, "other.org"), "other.org");

  struct Case {
    std::string value;
    bool ok;
    std::string host;
    std::uint16_t port;
    bool literal;
  } cases[] = {
      {"127.0.0.1:2526", true, "127.0.0.1", 2526, true},
      {"[::1]:25", true, "::1", 25, true},
      {"Smart.Host:587", true, "smart.host", 587, false},
      {"host", false, "", 0, false},
      {":25", false, "", 0, false},
      {"host:0", false, "", 0, false},
      {"host:65536", false, "", 0, false},
      {"host:2x", false, "", 0, false},
      {"[::1:25", false, "", 0, false},
  };
  for (const auto& c : cases) {
    auto h = parse_route(c.value);
    ASSERT_EQ(bool(h), c.ok) << c.value;
    if (!h) continue;
    EXPECT_EQ(h->host, c.host) << c.value;
    EXPECT_EQ(h->port, c.port) << c.value;
    EXPECT_EQ(h->literal, c.literal) << c.value;
  }
}

TEST(NextHop, MxOrder) {
  std::vector<net::MxRecord> mx = {
      {20, "c.test"}, {10, "b.test"}, {10, "a.test"}, {30, "c.test"}, {5, ""}};
  for (std::uint32_t seed = 0; seed < 20; ++seed) {
    auto hops = order_mx(mx, 2525, seed);
    ASSERT_EQ(hops.size(), 3u);  // the "." entry and the duplicate are dropped
    EXPECT_TRUE((hops[0].host == "a.test" && hops[1].host == "b.test") ||
                (hops[0].host == "b.test" && hops[1].host == "a.test"));
    EXPECT_EQ(hops[2].host, "c.test");
    EXPECT_EQ(hops[0].port, 2525);
    EXPECT_EQ(hops[0].preference, 10);  // kept for the "we are MX" rule
    EXPECT_EQ(hops[2].preference, 20);
  }
  // Both orders of the equal-preference pair occur (RFC 5321 §5.1 load spreading).
  bool a_first = false, b_first = false;
  for (std::uint32_t seed = 0; seed < 50; ++seed) {
    auto hops = order_mx(mx, 25, seed);
    (hops[0].host == "a.test" ? a_first : b_first) = true;
  }
  EXPECT_TRUE(a_first && b_first);
  EXPECT_TRUE(is_null_mx({{0, ""}}));
  EXPECT_FALSE(is_null_mx({{0, ""}, {10, "mx.test"}}));
  EXPECT_FALSE(is_null_mx({}));
  EXPECT_EQ(domain_of("Bob@Dest.Test"), "dest.test");
  EXPECT_EQ(domain_of("\"a@b\"@dest.test"), "dest.test");
}

}  // namespace
}  // namespace tegami::server
