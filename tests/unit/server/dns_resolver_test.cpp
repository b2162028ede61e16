// DnsResolver (c-ares inside the io_context) against a fake DNS server on a
// loopback UDP port that answers from a table: MX, null MX, NODATA,
// NXDOMAIN, SERVFAIL, A and AAAA.
#include "net/dns_resolver.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/next_hop.hpp"

namespace tegami::net {
namespace {

constexpr std::uint16_t kTypeA = 1, kTypeMx = 15, kTypeAaaa = 28;

struct FakeAnswer {
  int rcode = 0;                                          // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN
  std::vector<std::pair<std::uint16_t, std::string>> mx;  // preference, exchange ("" = root)
  std::vector<std::string> a;                             // dotted quads
  std::vector<std::string> aaaa;                          // IPv6 text
};

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

void put_name(std::string& out, const std::string& name) {
  std::size_t pos = 0;
  while (pos < name.size()) {
    auto dot = name.find('.', pos);
    if (dot == std::string::npos) dot = name.size();
    out += static_cast<char>(dot - pos);
    out += name.substr(pos, dot - pos);
    pos = dot + 1;
  }
  out += '\0';
}

// A tiny authoritative-looking DNS server: one UDP socket, answers from `zone`.
class FakeDns {
 public:
  explicit FakeDns(asio::io_context& ioc)
      : socket_(ioc, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    receive();
  }
  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  std::map<std::pair<std::string, std::uint16_t>, FakeAnswer> zone;
  int queries = 0;

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(buf_), from_,
                               [this](std::error_code ec, std::size_t n) {
                                 if (ec) return;
                                 answer(std::string(buf_.data(), n));
                                 receive();
                               });
  }
  void answer(const std::string& q) {
    ++queries;
    if (q.size() < 17) return;
    // Question: QNAME labels, QTYPE, QCLASS.
    std::size_t pos = 12;
    std::string name;
    while (pos < q.size() && q[pos] != 0) {
      std::size_t len = static_cast<unsigned char>(q[pos]);
      if (!name.empty()) name += '.';
      name += q.substr(pos + 1, len);
      pos += 1 + len;
    }
    pos += 1;
    if (pos + 4 > q.size()) return;
    std::uint16_t type = static_cast<std::uint16_t>((static_cast<unsigned char>(q[pos]) << 8) |
                                                    static_cast<unsigned char>(q[pos + 1]));
    std::string question = q.substr(12, pos + 4 - 12);
    FakeAnswer a;
    auto it = zone.find({name, type});
    if (it != zone.end()) {
      a = it->second;
    } else {
      bool known = false;
      for (const auto& [k, v] : zone) known = known || k.first == name;
      a.rcode = known ? 0 : 3;  // the name exists with other types: NODATA; else NXDOMAIN
    }
    std::string rrs;
    std::uint16_t count = 0;
    auto rr = [&](std::uint16_t t, const std::string& rdata) {
      put16(rrs, 0xC00C);  // the question's name
      put16(rrs, t);
      put16(rrs, 1);  // IN
      put16(rrs, 0);
      put16(rrs, 300);  // TTL
      put16(rrs, static_cast<std::uint16_t>(rdata.size()));
      rrs += rdata;
      ++count;
    };
    for (const auto& [pref, host] : a.mx) {
      std::string rdata;
      put16(rdata, pref);
      put_name(rdata, host);
      rr(kTypeMx, rdata);
    }
    for (const auto& ip : a.a) {
      auto b = asio::ip::make_address_v4(ip).to_bytes();
      rr(kTypeA, std::string(b.begin(), b.end()));
    }
    for (const auto& ip : a.aaaa) {
      auto b = asio::ip::make_address_v6(ip).to_bytes();
      rr(kTypeAaaa, std::string(b.begin(), b.end()));
    }
    std::string out = q.substr(0, 2);                          // id
    put16(out, static_cast<std::uint16_t>(0x8180 | a.rcode));  // QR RD RA, rcode
    put16(out, 1);
    put16(out, count);
    put16(out, 0);
    put16(out, 0);
    out += question + rrs;
    reply_ = out;
    socket_.send_to(asio::buffer(reply_), from_);
  }

  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint from_;
  std::array<char, 1500> buf_{};
  std::string reply_;
};

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

TEST(DnsResolverCreate, RejectsBadServers) {
  asio::io_context ioc;
  EXPECT_FALSE(DnsResolver::create(ioc.get_executor(), {"not an address"}));
  EXPECT_FALSE(DnsResolver::create(ioc.get_executor(), {"1.2.3.4,5.6.7.8"}));
  EXPECT_TRUE(DnsResolver::create(ioc.get_executor(), {"127.0.0.1:5353", "[::1]:53"}));
  EXPECT_TRUE(DnsResolver::create(ioc.get_executor(), {}));  // the system's resolv.conf
}

}  // namespace
}  // namespace tegami::net
