// DnsResolver (c-ares inside the io_context) against a fake DNS server on a
// loopback UDP port that answers from a table (fake_dns.hpp): MX, null MX,
// NODATA, NXDOMAIN, SERVFAIL, A, AAAA, TXT, PTR, and silence.
#include "net/dns_resolver.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fake_dns.hpp"
#include "server/next_hop.hpp"

namespace tegami::net {
namespace {

class DnsResolverTest : public ::testing::Test {
 protected:
  DnsResolverTest() : strand_(asio::make_strand(ioc_)), dns_(ioc_) {
    dns_.zone[{"dest.test", kTypeMx}] =
        FakeAnswer{0, {{20, "MX2.Dest.Test"}, {10, "mx1.dest.test"}}};
    dns_.zone[{"null.test", kTypeMx}] = FakeAnswer{0, {{0, ""}}};
    dns_.zone[{"nomx.test", kTypeA}] = FakeAnswer{0, {}, {"192.0.2.7"}};
    dns_.zone[{"broken.test", kTypeMx}] = FakeAnswer{2};
    dns_.zone[{"broken.test", kTypeA}] = FakeAnswer{2};
    dns_.zone[{"broken.test", kTypeAaaa}] = FakeAnswer{2};
    dns_.zone[{"mx1.dest.test", kTypeA}] = FakeAnswer{0, {}, {"127.0.0.1", "127.0.0.2"}};
    dns_.zone[{"mx1.dest.test", kTypeAaaa}] = FakeAnswer{0, {}, {}, {"::1"}};
  }

  std::unique_ptr<DnsResolver> resolver() {
    auto r = DnsResolver::create(strand_, {"127.0.0.1:" + std::to_string(dns_.port())});
    EXPECT_TRUE(r) << r.error().message;
    return std::move(*r);
  }

  template <class T>
  T run(std::function<awaitable<T>()> f) {
    std::optional<T> out;
    bool done = false;
    asio::co_spawn(
        strand_,
        [&]() -> awaitable<void> {
          out = co_await f();
          done = true;
        },
        asio::detached);
    // The fake server keeps the context busy for ever: run handlers until
    // the lookup is done (bounded), not until the context runs dry.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done && std::chrono::steady_clock::now() < deadline)
      ioc_.run_one_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(out.has_value());
    return out.value_or(T{});
  }

  asio::io_context ioc_;
  asio::strand<asio::io_context::executor_type> strand_;
  FakeDns dns_;
};

TEST_F(DnsResolverTest, MxRecords) {
  auto r = resolver();
  const std::string name = "dest.test";
  auto mx = run<MxAnswer>([&]() { return r->lookup_mx(name); });
  ASSERT_EQ(mx.status, DnsStatus::kOk) << mx.error;
  ASSERT_EQ(mx.records.size(), 2u);
  EXPECT_EQ(mx.records[0].preference, 20);
  EXPECT_EQ(mx.records[0].host, "mx2.dest.test");  // lower-cased
  auto hops = server::order_mx(mx.records, 25, 1);
  ASSERT_EQ(hops.size(), 2u);
  EXPECT_EQ(hops[0].host, "mx1.dest.test");  // preference order
  EXPECT_EQ(hops[1].host, "mx2.dest.test");
}

TEST_F(DnsResolverTest, NullMxNoDataNxdomainServfail) {
  auto r = resolver();
  const std::string null_name = "null.test", nomx = "nomx.test", missing = "missing.test",
                    broken = "broken.test";
  auto n = run<MxAnswer>([&]() { return r->lookup_mx(null_name); });
  ASSERT_EQ(n.status, DnsStatus::kOk);
  EXPECT_TRUE(server::is_null_mx(n.records));
  EXPECT_EQ(run<MxAnswer>([&]() { return r->lookup_mx(nomx); }).status, DnsStatus::kNoData);
  EXPECT_EQ(run<MxAnswer>([&]() { return r->lookup_mx(missing); }).status, DnsStatus::kNotFound);
  auto b = run<MxAnswer>([&]() { return r->lookup_mx(broken); });
  EXPECT_EQ(b.status, DnsStatus::kTempFail);
  EXPECT_FALSE(b.error.empty());
}

TEST_F(DnsResolverTest, Addresses) {
  auto r = resolver();
  const std::string both = "mx1.dest.test", v4 = "nomx.test", missing = "missing.test",
                    broken = "broken.test";
  auto a = run<AddressAnswer>([&]() { return r->lookup_addresses(both); });
  ASSERT_EQ(a.status, DnsStatus::kOk) << a.error;
  ASSERT_EQ(a.addresses.size(), 3u);
  EXPECT_EQ(a.addresses[0].to_string(), "127.0.0.1");  // IPv4 first
  EXPECT_EQ(a.addresses[1].to_string(), "127.0.0.2");
  EXPECT_EQ(a.addresses[2].to_string(), "::1");
  auto only4 = run<AddressAnswer>([&]() { return r->lookup_addresses(v4); });
  ASSERT_EQ(only4.status, DnsStatus::kOk);
  EXPECT_EQ(only4.addresses.size(), 1u);
  EXPECT_EQ(run<AddressAnswer>([&]() { return r->lookup_addresses(missing); }).status,
            DnsStatus::kNotFound);
  EXPECT_EQ(run<AddressAnswer>([&]() { return r->lookup_addresses(broken); }).status,
            DnsStatus::kTempFail);
}

TEST_F(DnsResolverTest, ManyConcurrentLookups) {
  auto r = resolver();
  const std::string name = "dest.test";
  int ok = 0, done = 0;
  for (int i = 0; i < 50; ++i)
    asio::co_spawn(
        strand_,
        [&]() -> awaitable<void> {
          auto mx = co_await r->lookup_mx(name);
          if (mx.status == DnsStatus::kOk && mx.records.size() == 2) ++ok;
          ++done;
        },
        asio::detached);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (done < 50 && std::chrono::steady_clock::now() < deadline)
    ioc_.run_one_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ok, 50);
}

TEST_F(DnsResolverTest, DestroyedWithLookupsPending) {
  // A server that never answers: the lookup is pending when the resolver goes.
  asio::ip::udp::socket silent(ioc_,
                               asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto created =
      DnsResolver::create(strand_, {"127.0.0.1:" + std::to_string(silent.local_endpoint().port())});
  ASSERT_TRUE(created);
  auto r = std::move(*created);
  const std::string name = "dest.test";
  std::optional<MxAnswer> out;
  asio::co_spawn(
      strand_, [&]() -> awaitable<void> { out = co_await r->lookup_mx(name); }, asio::detached);
  ioc_.run_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(out.has_value());
  r.reset();  // completes the lookup with a temporary failure
  ioc_.restart();
  ioc_.run_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->status, DnsStatus::kTempFail);
}

TEST_F(DnsResolverTest, TxtRecordsKeepTheirStringsApart) {
  dns_.zone[{"spf.test", kTypeTxt}] =
      FakeAnswer{0, {}, {}, {}, {{"v=spf1 ip4:192.0.2.0/24", " -all"}, {"other"}}};
  dns_.zone[{"notxt.test", kTypeA}] = FakeAnswer{0, {}, {"192.0.2.1"}};
  dns_.zone[{"broken.test", kTypeTxt}] = FakeAnswer{2};
  auto r = resolver();
  auto t = run<TxtAnswer>([&]() { return r->lookup_txt("spf.test"); });
  ASSERT_EQ(t.status, DnsStatus::kOk) << t.error;
  ASSERT_EQ(t.records.size(), 2u);
  EXPECT_EQ(t.records[0], (std::vector<std::string>{"v=spf1 ip4:192.0.2.0/24", " -all"}));
  EXPECT_EQ(t.records[1], (std::vector<std::string>{"other"}));
  EXPECT_EQ(run<TxtAnswer>([&]() { return r->lookup_txt("notxt.test"); }).status,
            DnsStatus::kNoData);
  EXPECT_EQ(run<TxtAnswer>([&]() { return r->lookup_txt("missing.test"); }).status,
            DnsStatus::kNotFound);
  EXPECT_EQ(run<TxtAnswer>([&]() { return r->lookup_txt("broken.test"); }).status,
            DnsStatus::kTempFail);
}

TEST_F(DnsResolverTest, SingleFamilyAddressesAndPtr) {
  dns_.zone[{"7.2.0.192.in-addr.arpa", kTypePtr}] =
      FakeAnswer{0, {}, {}, {}, {}, {"Host.Example.Test", "other.example.test"}};
  auto r = resolver();
  auto a = run<AddressAnswer>([&]() { return r->lookup_a("mx1.dest.test"); });
  ASSERT_EQ(a.status, DnsStatus::kOk) << a.error;
  ASSERT_EQ(a.addresses.size(), 2u);
  EXPECT_TRUE(a.addresses[0].is_v4());
  auto aaaa = run<AddressAnswer>([&]() { return r->lookup_aaaa("mx1.dest.test"); });
  ASSERT_EQ(aaaa.status, DnsStatus::kOk) << aaaa.error;
  ASSERT_EQ(aaaa.addresses.size(), 1u);
  EXPECT_EQ(aaaa.addresses[0].to_string(), "::1");
  EXPECT_EQ(run<AddressAnswer>([&]() { return r->lookup_aaaa("nomx.test"); }).status,
            DnsStatus::kNoData);
  auto ptr = run<NameAnswer>([&]() { return r->lookup_ptr("7.2.0.192.in-addr.arpa"); });
  ASSERT_EQ(ptr.status, DnsStatus::kOk) << ptr.error;
  EXPECT_EQ(ptr.names, (std::vector<std::string>{"host.example.test", "other.example.test"}));
  EXPECT_EQ(run<NameAnswer>([&]() { return r->lookup_ptr("8.2.0.192.in-addr.arpa"); }).status,
            DnsStatus::kNotFound);
  auto mx = run<MxAnswer>([&]() {
    return r->lookup_mx("dest.test", std::chrono::steady_clock::now() + std::chrono::seconds(5));
  });
  EXPECT_EQ(mx.status, DnsStatus::kOk);
  EXPECT_EQ(mx.records.size(), 2u);
}

TEST_F(DnsResolverTest, DeadlineEndsTheWaitAndTheQueryOutlivesIt) {
  dns_.zone[{"slow.test", kTypeTxt}] = FakeAnswer{};
  dns_.zone[{"slow.test", kTypeTxt}].silent = true;
  auto r = resolver();
  auto begin = std::chrono::steady_clock::now();
  auto t = run<TxtAnswer>([&]() {
    return r->lookup_txt("slow.test",
                         std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
  });
  auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(t.status, DnsStatus::kTempFail);
  EXPECT_EQ(t.error, "deadline reached");
  EXPECT_LT(took, std::chrono::seconds(2));
  // The abandoned query is still c-ares'; the resolver keeps working, and
  // going away with it pending is safe.
  const std::string dest = "dest.test";  // lookup_mx(const std::string&) keeps a reference
  auto mx = run<MxAnswer>([&]() { return r->lookup_mx(dest); });
  EXPECT_EQ(mx.status, DnsStatus::kOk) << mx.error;
  r.reset();
  ioc_.run_for(std::chrono::milliseconds(50));
}

TEST(DnsResolverCreate, RejectsBadServers) {
  asio::io_context ioc;
  EXPECT_FALSE(DnsResolver::create(ioc.get_executor(), {"not an address"}));
  EXPECT_FALSE(DnsResolver::create(ioc.get_executor(), {"1.2.3.4,5.6.7.8"}));
  EXPECT_TRUE(DnsResolver::create(ioc.get_executor(), {"127.0.0.1:5353", "[::1]:53"}));
  EXPECT_TRUE(DnsResolver::create(ioc.get_executor(), {}));  // the system's resolv.conf
}

}  // namespace
}  // namespace tegami::net
