// lookup_dkim_keys(): the RFC 8463 example verified with its keys served by
// the fake DNS server (fake_dns.hpp) through real c-ares, the RSA record
// split into several character-strings as published; a silent server is
// temperror at the deadline.
#include "server/dkim_check.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "../dkim/dkim_test_util.hpp"
#include "fake_dns.hpp"

namespace tegami::server {
namespace {

using mailauth::DkimResult;

class DkimKeyLookup : public ::testing::Test {
 protected:
  DkimKeyLookup() : strand_(asio::make_strand(ioc_)), dns_(ioc_) {
    net::FakeAnswer ed;
    ed.txt = {{dkim::test::kRfc8463EdRecord}};
    dns_.zone[{"brisbane._domainkey.football.example.com", net::kTypeTxt}] = ed;
    net::FakeAnswer rsa;
    rsa.txt = {dkim::test::kRfc8463RsaRecord};
    dns_.zone[{"test._domainkey.football.example.com", net::kTypeTxt}] = rsa;
    auto r = net::DnsResolver::create(strand_, {"127.0.0.1:" + std::to_string(dns_.port())});
    EXPECT_TRUE(r) << r.error().message;
    resolver_ = std::move(*r);
  }

  std::vector<mailauth::DkimOutcome> verify(const std::string& msg,
                                            std::chrono::milliseconds budget) {
    dkim::DkimVerifier v({.now = dkim::test::kRfc8463Time});
    v.feed(msg);
    bool done = false;
    asio::co_spawn(
        strand_,
        [&]() -> net::awaitable<void> {
          co_await lookup_dkim_keys(*resolver_, v, std::chrono::steady_clock::now() + budget);
          done = true;
        },
        asio::detached);
    auto stop = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done && std::chrono::steady_clock::now() < stop)
      ioc_.run_one_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(done);
    v.finish();
    return v.results();
  }

  asio::io_context ioc_;
  asio::strand<asio::io_context::executor_type> strand_;
  net::FakeDns dns_;
  std::unique_ptr<net::DnsResolver> resolver_;
};

TEST_F(DkimKeyLookup, Rfc8463ThroughCares) {
  auto r = verify(dkim::test::kRfc8463Message, std::chrono::seconds(10));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].result, DkimResult::kPass) << r[0].reason;
  EXPECT_EQ(r[1].result, DkimResult::kPass) << r[1].reason;
}

TEST_F(DkimKeyLookup, MissingAndSilent) {
  dns_.zone.erase({"test._domainkey.football.example.com", net::kTypeTxt});
  auto missing = verify(dkim::test::kRfc8463Message, std::chrono::seconds(10));
  ASSERT_EQ(missing.size(), 2u);
  EXPECT_EQ(missing[0].result, DkimResult::kPass) << missing[0].reason;
  EXPECT_EQ(missing[1].result, DkimResult::kPermError) << missing[1].reason;
  dns_.zone[{"brisbane._domainkey.football.example.com", net::kTypeTxt}].silent = true;
  auto begin = std::chrono::steady_clock::now();
  auto r = verify(dkim::test::kRfc8463Message, std::chrono::milliseconds(300));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].result, DkimResult::kTempError) << r[0].reason;
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(3));
  EXPECT_EQ(r[1].result, DkimResult::kTempError);  // the deadline passed before its turn
}

}  // namespace
}  // namespace tegami::server
