// check_spf(): the SPF evaluator driven through the real c-ares resolver
// against the fake DNS server of fake_dns.hpp (UDP on 127.0.0.1, never the
// system resolver), including a server that stops answering mid-check.
#include "server/spf_check.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "fake_dns.hpp"

namespace tegami::server {
namespace {

using mailauth::SpfOutcome;
using mailauth::SpfQuery;
using mailauth::SpfResult;
using net::FakeAnswer;
using net::kTypeA;
using net::kTypeAaaa;
using net::kTypeMx;
using net::kTypePtr;
using net::kTypeTxt;

FakeAnswer txt(std::vector<std::vector<std::string>> records) {
  FakeAnswer a;
  a.txt = std::move(records);
  return a;
}

class SpfCheckDriver : public ::testing::Test {
 protected:
  SpfCheckDriver() : strand_(asio::make_strand(ioc_)), dns_(ioc_) {
    dns_.zone[{"example.test", kTypeTxt}] =
        txt({{"v=spf1 include:_spf.example.test mx", " ptr:trusted.test ~all"}, {"unrelated"}});
    dns_.zone[{"_spf.example.test", kTypeTxt}] = txt({{"v=spf1 ip4:192.0.2.0/28 -all"}});
    dns_.zone[{"example.test", kTypeMx}] = FakeAnswer{0, {{10, "mx.example.test"}}};
    dns_.zone[{"mx.example.test", kTypeA}] = FakeAnswer{0, {}, {"198.51.100.25"}};
    dns_.zone[{"mx.example.test", kTypeAaaa}] = FakeAnswer{0, {}, {}, {"2001:db8::25"}};
    FakeAnswer ptr;
    ptr.ptr = {"host.trusted.test"};
    dns_.zone[{"9.113.0.203.in-addr.arpa", kTypePtr}] = ptr;
    dns_.zone[{"host.trusted.test", kTypeA}] = FakeAnswer{0, {}, {"203.0.113.9"}};
    dns_.zone[{"deny.test", kTypeTxt}] = txt({{"v=spf1 -all exp=why.deny.test"}});
    dns_.zone[{"why.deny.test", kTypeTxt}] = txt({{"%{i} is not ", "welcome at %{d}"}});
    dns_.zone[{"slow.test", kTypeTxt}] = txt({{"v=spf1 a:hang.slow.test -all"}});
    dns_.zone[{"hang.slow.test", kTypeA}] = FakeAnswer{};
    dns_.zone[{"hang.slow.test", kTypeA}].silent = true;
    auto r = net::DnsResolver::create(strand_, {"127.0.0.1:" + std::to_string(dns_.port())});
    EXPECT_TRUE(r) << r.error().message;
    resolver_ = std::move(*r);
  }

  SpfOutcome check(const char* client, const char* from,
                   std::chrono::milliseconds budget = std::chrono::seconds(10)) {
    std::optional<SpfOutcome> out;
    auto query = SpfQuery::mail_from(spf_address(asio::ip::make_address(client)), from,
                                     "helo.example.test", "mx.us.test");
    auto deadline = std::chrono::steady_clock::now() + budget;
    asio::co_spawn(
        strand_,
        [&]() -> net::awaitable<void> { out = co_await check_spf(*resolver_, query, deadline); },
        asio::detached);
    auto stop = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!out && std::chrono::steady_clock::now() < stop)
      ioc_.run_one_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(out.has_value());
    return out.value_or(SpfOutcome{});
  }

  asio::io_context ioc_;
  asio::strand<asio::io_context::executor_type> strand_;
  net::FakeDns dns_;
  std::unique_ptr<net::DnsResolver> resolver_;
};

TEST_F(SpfCheckDriver, EveryLookupKindThroughCares) {
  auto inc = check("192.0.2.3", "user@example.test");  // TXT, include
  EXPECT_EQ(inc.result, SpfResult::kPass) << inc.problem;
  EXPECT_EQ(inc.mechanism, "include:_spf.example.test");
  auto mx4 = check("198.51.100.25", "user@example.test");  // MX, A
  EXPECT_EQ(mx4.result, SpfResult::kPass) << mx4.problem;
  EXPECT_EQ(mx4.mechanism, "mx");
  auto mx6 = check("2001:db8::25", "user@example.test");  // MX, AAAA
  EXPECT_EQ(mx6.result, SpfResult::kPass) << mx6.problem;
  auto ptr = check("::ffff:203.0.113.9", "user@example.test");  // PTR, mapped is IPv4
  EXPECT_EQ(ptr.result, SpfResult::kPass) << ptr.problem;
  EXPECT_EQ(ptr.mechanism, "ptr:trusted.test");
  auto soft = check("203.0.113.10", "user@example.test");
  EXPECT_EQ(soft.result, SpfResult::kSoftFail) << soft.problem;
  auto none = check("192.0.2.3", "user@missing.test");
  EXPECT_EQ(none.result, SpfResult::kNone);
}

TEST_F(SpfCheckDriver, FailWithExplanation) {
  auto out = check("192.0.2.3", "user@deny.test");
  EXPECT_EQ(out.result, SpfResult::kFail);
  EXPECT_EQ(out.explanation, "192.0.2.3 is not welcome at deny.test");
}

TEST_F(SpfCheckDriver, DeadlineIsTemperror) {
  auto begin = std::chrono::steady_clock::now();
  auto out = check("192.0.2.3", "user@slow.test", std::chrono::milliseconds(300));
  EXPECT_EQ(out.result, SpfResult::kTempError);
  EXPECT_NE(out.problem.find("deadline"), std::string::npos) << out.problem;
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(3));
  // The resolver is still usable afterwards.
  EXPECT_EQ(check("192.0.2.3", "user@deny.test").result, SpfResult::kFail);
}

TEST(SpfAddress, MappedAddressesAreIpv4) {
  EXPECT_FALSE(spf_address(asio::ip::make_address("::ffff:192.0.2.1")).v6);
  EXPECT_EQ(spf_address(asio::ip::make_address("::ffff:192.0.2.1")).to_string(), "192.0.2.1");
  EXPECT_TRUE(spf_address(asio::ip::make_address("2001:db8::1")).v6);
}

}  // namespace
}  // namespace tegami::server
