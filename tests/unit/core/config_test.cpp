#include "core/config.hpp"

#include <gtest/gtest.h>

#include "core/units.hpp"

namespace tegami {
namespace {

TEST(Units, Durations) {
  EXPECT_EQ(parse_duration("30s")->count(), 30);
  EXPECT_EQ(parse_duration("10m")->count(), 600);
  EXPECT_EQ(parse_duration("2h")->count(), 7200);
  EXPECT_EQ(parse_duration("5d")->count(), 432000);
  EXPECT_EQ(parse_duration("0")->count(), 0);
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("10x"));
  EXPECT_FALSE(parse_duration("m"));
  EXPECT_FALSE(parse_duration("-5m"));
  EXPECT_FALSE(parse_duration("99999999999999999999d"));
}

TEST(Units, Sizes) {
  EXPECT_EQ(*parse_size("512KiB"), 512u * 1024);
  EXPECT_EQ(*parse_size("25MiB"), 25u * 1024 * 1024);
  EXPECT_EQ(*parse_size("1000"), 1000u);
  EXPECT_FALSE(parse_size("25 MiB"));
  EXPECT_FALSE(parse_size("MiB"));
}

TEST(Config, DefaultsWhenEmpty) {
  auto c = parse_config("", "/etc/tegami/tegami.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->data_dir, "/etc/tegami/data");
  EXPECT_EQ(c->tls_cert, "/etc/tegami/tls/cert.pem");
  EXPECT_EQ(c->message_size, 25u * 1024 * 1024);
  EXPECT_EQ(c->recipients, 100u);
  EXPECT_EQ(c->junk_commands, 100u);
  ASSERT_EQ(c->smtp_listen.size(), 1u);
  EXPECT_EQ(c->smtp_listen[0].port, 2525);
  EXPECT_TRUE(c->pop3_apop);
  EXPECT_EQ(c->queue_retry.size(), 6u);
}

TEST(Config, EveryContractKey) {
  const char* text = R"(hostname = "mail.example.test"
data_dir = "/srv/mail"
[smtp]
listen = ["127.0.0.1:0", "[::1]:25"]
[submission]
listen = []
[submissions]
listen = ["127.0.0.1:2465"]
[pop3]
listen = ["127.0.0.1:2110"]
apop = false
[pop3s]
listen = ["127.0.0.1:2995"]
[tls]
cert = "c.pem"
key = "k.pem"
[auth]
plaintext_networks = ["10.0.0.0/8"]
[relay]
trusted_networks = ["192.0.2.0/24", "2001:db8::/32"]
pop_before_smtp_ttl = "5m"
routes = { "Example.NET" = "127.0.0.1:2526" }
[dns]
servers = ["127.0.0.1:5353"]
[limits]
message_size = "1MiB"
recipients = 7
junk_commands = 30
[queue]
retry = ["1m", "2m"]
lifetime = "1h"
delay_warning = "0"
)";
  auto c = parse_config(text, "/x/t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->hostname, "mail.example.test");
  EXPECT_EQ(c->data_dir, "/srv/mail");
  EXPECT_EQ(c->smtp_listen.size(), 2u);
  EXPECT_EQ(c->smtp_listen[1].host, "::1");
  EXPECT_TRUE(c->submission_listen.empty());
  EXPECT_FALSE(c->pop3_apop);
  EXPECT_EQ(c->tls_cert, "/x/c.pem");
  EXPECT_EQ(c->pop_before_smtp_ttl.count(), 300);
  EXPECT_EQ(c->routes.at("example.net"), "127.0.0.1:2526");
  EXPECT_EQ(c->message_size, 1024u * 1024);
  EXPECT_EQ(c->recipients, 7u);
  EXPECT_EQ(c->junk_commands, 30u);
  EXPECT_EQ(c->queue_retry.size(), 2u);
  EXPECT_EQ(c->queue_delay_warning.count(), 0);
  EXPECT_TRUE(c->trusted_networks[0].contains("192.0.2.77"));
  EXPECT_FALSE(c->trusted_networks[0].contains("192.0.3.1"));
  EXPECT_TRUE(c->trusted_networks[1].contains("2001:db8::1"));
}

struct BadCase {
  const char* text;
  const char* expect;  // substring of the error
};

TEST(Config, BadInputNamesTheLine) {
  const BadCase cases[] = {
      {"hostname = \"a\"\nbogus = 1\n", "t.toml:2: unknown key 'bogus'"},
      {"[smtp]\nlisten = [\"nope\"]\n", "t.toml:2:"},
      {"[smtp]\nlisten = [\"127.0.0.1:99999\"]\n", "bad port"},
      {"\n\n[limits]\nmessage_size = \"lots\"\n", "t.toml:4:"},
      {"[limits]\nrecipients = 0\n", "positive"},
      {"[limits]\njunk_commands = 0\n", "positive"},
      {"[relay]\ntrusted_networks = [\"10.0.0.0/33\"]\n", "prefix"},
      {"[relay]\npop_before_smtp_ttl = \"10 minutes\"\n", "duration"},
      {"[pop3]\napop = \"yes\"\n", "true or false"},
      {"[pop3]\nlisten = []\ncolour = 1\n", "t.toml:3: unknown key 'pop3.colour'"},
      {"hostname = \n", "t.toml:1:"},
      {"hostname = \"\"\n", "hostname"},
  };
  for (const auto& bc : cases) {
    auto c = parse_config(bc.text, "t.toml");
    ASSERT_FALSE(c) << bc.text;
    EXPECT_NE(c.error().message.find(bc.expect), std::string::npos)
        << bc.text << " -> " << c.error().message;
  }
}

TEST(Config, PerNetworkLimitsAndAuthFailureKeys) {
  auto d = parse_config("", "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->connections_ipv6_prefix, 64u);
  EXPECT_EQ(d->auth_failure_ipv6_prefix, 48u);
  EXPECT_EQ(d->auth_failure_limit, 10u);
  EXPECT_EQ(d->auth_failure_window, std::chrono::minutes(15));
  EXPECT_EQ(d->auth_failure_delay, std::chrono::seconds(2));
  auto c = parse_config(
      "[limits]\nipv6_prefix = 56\n[auth]\nfailure_ipv6_prefix = 128\nfailure_limit = 3\n"
      "failure_window = \"5s\"\nfailure_delay = \"0s\"\n",
      "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->connections_ipv6_prefix, 56u);
  EXPECT_EQ(c->auth_failure_ipv6_prefix, 128u);
  EXPECT_EQ(c->auth_failure_limit, 3u);
  EXPECT_EQ(c->auth_failure_window, std::chrono::seconds(5));
  EXPECT_EQ(c->auth_failure_delay, std::chrono::seconds(0));
  const BadCase bad[] = {
      {"[limits]\nipv6_prefix = 0\n", "t.toml:2: 'limits.ipv6_prefix' must be an IPv6 prefix"},
      {"[limits]\nipv6_prefix = 129\n", "from 1 to 128"},
      {"[limits]\nipv6_prefix = \"64\"\n", "IPv6 prefix"},
      {"[auth]\nfailure_ipv6_prefix = -48\n", "'auth.failure_ipv6_prefix' must be"},
      {"[auth]\nfailure_limit = 0\n", "positive"},
      {"[auth]\nfailure_limit = 100000\n", "at most 1000"},
      {"[auth]\nfailure_window = \"0s\"\n", "failure_window"},
      {"[auth]\nfailure_delay = \"soon\"\n", "duration"},
  };
  for (const auto& bc : bad) {
    auto r = parse_config(bc.text, "t.toml");
    ASSERT_FALSE(r) << bc.text;
    EXPECT_NE(r.error().message.find(bc.expect), std::string::npos)
        << bc.text << " -> " << r.error().message;
  }
}

TEST(Cidr, MappedV4AndEdges) {
  auto c = parse_cidr("127.0.0.0/8");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains("127.1.2.3"));
  EXPECT_TRUE(c->contains("::ffff:127.0.0.1"));
  EXPECT_FALSE(c->contains("128.0.0.1"));
  EXPECT_FALSE(c->contains("not-an-ip"));
  auto all = parse_cidr("0.0.0.0/0");
  EXPECT_TRUE(all->contains("8.8.8.8"));
  auto host = parse_cidr("10.1.2.3");
  EXPECT_TRUE(host->contains("10.1.2.3"));
  EXPECT_FALSE(host->contains("10.1.2.4"));
  auto odd = parse_cidr("10.0.0.0/9");
  EXPECT_TRUE(odd->contains("10.127.0.1"));
  EXPECT_FALSE(odd->contains("10.128.0.1"));
}

}  // namespace
}  // namespace tegami
