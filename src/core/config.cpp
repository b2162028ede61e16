#include "core/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/network_key.hpp"
#include "core/units.hpp"

namespace tegami {

namespace fs = std::filesystem;

std::string ListenAddress::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<ListenAddress> parse_listen(const std::string& s) {
  ListenAddress a;
  std::string port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return fail(Error::perm("bad listen address '" + s + "' (want [IPv6]:PORT)"));
    a.host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon)
      return fail(Error::perm("bad listen address '" + s + "' (want HOST:PORT)"));
    a.host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, a.host.c_str(), buf) != 1 && inet_pton(AF_INET6, a.host.c_str(), buf) != 1)
    return fail(
        Error::perm("bad listen address '" + s + "': '" + a.host + "' is not an IP address"));
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
      std::stoul(port) > 65535)
    return fail(Error::perm("bad listen address '" + s + "': bad port"));
  a.port = static_cast<std::uint16_t>(std::stoul(port));
  return a;
}

Result<Cidr> parse_cidr(const std::string& s) {
  Cidr c;
  c.text = s;
  std::string addr = s;
  int max_prefix = 32;
  auto slash = s.find('/');
  if (slash != std::string::npos) addr = s.substr(0, slash);
  if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
    c.v6 = false;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
    c.v6 = true;
    max_prefix = 128;
  } else {
    return fail(Error::perm("bad network '" + s + "'"));
  }
  c.prefix = max_prefix;
  if (slash != std::string::npos) {
    std::string p = s.substr(slash + 1);
    if (p.empty() || p.size() > 3 || !std::all_of(p.begin(), p.end(), ::isdigit) ||
        std::stoi(p) > max_prefix)
      return fail(Error::perm("bad network '" + s + "': bad prefix length"));
    c.prefix = std::stoi(p);
  }
  return c;
}

bool Cidr::contains(const std::string& ip) const {
  unsigned char b[16];
  bool is6 = false;
  if (inet_pton(AF_INET, ip.c_str(), b) == 1) {
    is6 = false;
  } else if (inet_pton(AF_INET6, ip.c_str(), b) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMapped, 12) == 0) {
      std::memmove(b, b + 12, 4);
      is6 = false;
    } else {
      is6 = true;
    }
  } else {
    return false;
  }
  if (is6 != v6) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(b, addr, static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (b[full] & mask) == (addr[full] & mask);
}

namespace {

struct Ctx {
  std::string path;
  Error err(const toml::node& n, const std::string& what) const {
    return Error::perm(fmt::format("{}:{}: {}", path, n.source().begin.line, what));
  }
};

std::string absolute(const std::string& base, const std::string& p) {
  if (p.empty()) return p;
  fs::path fp(p);
  if (fp.is_absolute()) return fp.lexically_normal().string();
  return (fs::path(base) / fp).lexically_normal().string();
}

Result<std::string> get_string(const Ctx& c, const toml::node& n, const std::string& key) {
  if (auto v = n.value<std::string>(); v && n.is_string()) return *v;
  return fail(c.err(n, "'" + key + "' must be a string"));
}

Result<bool> get_bool(const Ctx& c, const toml::node& n, const std::string& key) {
  if (n.is_boolean()) return *n.value<bool>();
  return fail(c.err(n, "'" + key + "' must be true or false"));
}

Result<std::vector<std::string>> get_strings(const Ctx& c, const toml::node& n,
                                             const std::string& key) {
  const auto* arr = n.as_array();
  if (!arr) return fail(c.err(n, "'" + key + "' must be an array of strings"));
  std::vector<std::string> out;
  for (const auto& e : *arr) {
    if (!e.is_string()) return fail(c.err(e, "'" + key + "' must contain only strings"));
    out.push_back(*e.value<std::string>());
  }
  return out;
}

Result<std::chrono::seconds> get_duration(const Ctx& c, const toml::node& n,
                                          const std::string& key) {
  auto s = get_string(c, n, key);
  if (!s) return fail(s.error());
  auto d = parse_duration(*s);
  if (!d)
    return fail(c.err(n, "'" + key + "' = \"" + *s + "\" is not a duration (30s, 10m, 2h, 5d)"));
  return *d;
}

Result<std::uint64_t> get_size(const Ctx& c, const toml::node& n, const std::string& key) {
  if (n.is_integer()) {
    auto v = *n.value<std::int64_t>();
    if (v <= 0) return fail(c.err(n, "'" + key + "' must be positive"));
    return static_cast<std::uint64_t>(v);
  }
  auto s = get_string(c, n, key);
  if (!s) return fail(c.err(n, "'" + key + "' must be a size such as \"25MiB\""));
  auto v = parse_size(*s);
  if (!v || *v == 0)
    return fail(c.err(n, "'" + key + "' = \"" + *s + "\" is not a size (512KiB, 25MiB)"));
  return *v;
}

// A size where 0 (or "0") turns the feature off.
Result<std::uint64_t> get_size_or_zero(const Ctx& c, const toml::node& n, const std::string& key) {
  if (n.is_integer() && *n.value<std::int64_t>() == 0) return std::uint64_t{0};
  if (n.is_string()) {
    auto v = parse_size(*n.value<std::string>());
    if (v && *v == 0) return std::uint64_t{0};
  }
  auto v = get_size(c, n, key);
  if (!v) return fail(c.err(n, "'" + key + "' must be a size such as \"256MiB\", or \"0\" (off)"));
  return *v;
}

Result<std::uint64_t> get_count(const Ctx& c, const toml::node& n, const std::string& key) {
  if (!n.is_integer() || *n.value<std::int64_t>() <= 0)
    return fail(c.err(n, "'" + key + "' must be a positive integer"));
  return static_cast<std::uint64_t>(*n.value<std::int64_t>());
}

// An IPv6 prefix length for per-network limits (core/network_key.hpp).
Result<unsigned> get_ipv6_prefix(const Ctx& c, const toml::node& n, const std::string& key) {
  if (!n.is_integer() || *n.value<std::int64_t>() < std::int64_t{kMinIpv6Prefix} ||
      *n.value<std::int64_t>() > std::int64_t{kMaxIpv6Prefix})
    return fail(c.err(n, fmt::format("'{}' must be an IPv6 prefix length from {} to {}", key,
                                     kMinIpv6Prefix, kMaxIpv6Prefix)));
  return static_cast<unsigned>(*n.value<std::int64_t>());
}

Result<std::vector<ListenAddress>> get_listen(const Ctx& c, const toml::node& n,
                                              const std::string& key) {
  auto v = get_strings(c, n, key);
  if (!v) return fail(v.error());
  std::vector<ListenAddress> out;
  for (const auto& s : *v) {
    auto a = parse_listen(s);
    if (!a) return fail(c.err(n, a.error().message));
    out.push_back(*a);
  }
  return out;
}

Result<std::vector<Cidr>> get_cidrs(const Ctx& c, const toml::node& n, const std::string& key) {
  auto v = get_strings(c, n, key);
  if (!v) return fail(v.error());
  std::vector<Cidr> out;
  for (const auto& s : *v) {
    auto a = parse_cidr(s);
    if (!a) return fail(c.err(n, a.error().message));
    out.push_back(*a);
  }
  return out;
}

using Handler = std::function<Result<void>(const toml::node&)>;

// Walks one table: every key must be known.
Result<void> walk(const Ctx& c, const toml::table& t, const std::string& prefix,
                  const std::map<std::string, Handler>& handlers) {
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    auto it = handlers.find(key);
    if (it == handlers.end()) {
      return fail(Error::perm(
          fmt::format("{}:{}: unknown key '{}{}'", c.path, k.source().begin.line, prefix, key)));
    }
    if (auto r = it->second(v); !r) return r;
  }
  return {};
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

Result<Config> parse_config(const std::string& text, const std::string& path) {
  Config cfg;
  cfg.config_path = fs::absolute(path).lexically_normal().string();
  cfg.base_dir = fs::path(cfg.config_path).parent_path().string();
  cfg.data_dir = absolute(cfg.base_dir, "data");
  cfg.tls_cert = absolute(cfg.base_dir, "tls/cert.pem");
  cfg.tls_key = absolute(cfg.base_dir, "tls/key.pem");
  for (auto s : {"127.0.0.0/8", "::1/128"}) cfg.plaintext_networks.push_back(*parse_cidr(s));
  cfg.trusted_networks.push_back(*parse_cidr("127.0.0.1/32"));
  for (auto s : {"5m", "15m", "30m", "1h", "2h", "4h"})
    cfg.queue_retry.push_back(*parse_duration(s));
  cfg.smtp_listen = {*parse_listen("127.0.0.1:2525")};
  cfg.submission_listen = {*parse_listen("127.0.0.1:2587")};
  cfg.submissions_listen = {*parse_listen("127.0.0.1:2465")};
  cfg.pop3_listen = {*parse_listen("127.0.0.1:2110")};
  cfg.pop3s_listen = {*parse_listen("127.0.0.1:2995")};

  Ctx c{path};
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return fail(
        Error::perm(fmt::format("{}:{}: {}", path, e.source().begin.line, e.description())));
  }

  auto set = [&](auto& field, auto getter, const std::string& key) -> Handler {
    return [&field, getter, key, &c](const toml::node& n) -> Result<void> {
      auto v = getter(c, n, key);
      if (!v) return fail(v.error());
      field = static_cast<std::remove_reference_t<decltype(field)>>(*v);
      return {};
    };
  };
  auto section = [&](const std::string& name, std::map<std::string, Handler> h) -> Handler {
    return [&c, name, h = std::move(h)](const toml::node& n) -> Result<void> {
      const auto* t = n.as_table();
      if (!t) return fail(c.err(n, "'" + name + "' must be a table"));
      return walk(c, *t, name + ".", h);
    };
  };
  auto listener = [&](const std::string& name, std::vector<ListenAddress>& field) {
    return section(name, {{"listen", set(field, get_listen, name + ".listen")}});
  };

  std::string data_dir_raw, cert_raw, key_raw;
  bool data_dir_set = false, cert_set = false, key_set = false;

  std::map<std::string, Handler> top = {
      {"hostname", set(cfg.hostname, get_string, "hostname")},
      {"data_dir",
       [&](const toml::node& n) -> Result<void> {
         auto v = get_string(c, n, "data_dir");
         if (!v) return fail(v.error());
         if (v->empty()) return fail(c.err(n, "'data_dir' must not be empty"));
         data_dir_raw = *v;
         data_dir_set = true;
         return {};
       }},
      {"postmaster",
       [&](const toml::node& n) -> Result<void> {
         auto v = get_string(c, n, "postmaster");
         if (!v) return fail(v.error());
         auto at = v->rfind('@');
         if (!v->empty() && (at == std::string::npos || at == 0 || at + 1 == v->size()))
           return fail(c.err(n, "'postmaster' must be an address (LOCAL@DOMAIN)"));
         cfg.postmaster = lower(*v);
         return {};
       }},
      {"smtp",
       section("smtp",
               {{"listen", set(cfg.smtp_listen, get_listen, "smtp.listen")},
                {"bare_newline",
                 [&](const toml::node& n) -> Result<void> {
                   auto v = get_string(c, n, "smtp.bare_newline");
                   if (!v) return fail(v.error());
                   if (*v != "normalize" && *v != "strict")
                     return fail(c.err(n, "'smtp.bare_newline' must be \"normalize\" or "
                                          "\"strict\""));
                   cfg.bare_newline_strict = *v == "strict";
                   return {};
                 }},
                {"bare_newline_exempt",
                 [&](const toml::node& n) -> Result<void> {
                   auto v = get_cidrs(c, n, "smtp.bare_newline_exempt");
                   if (!v) return fail(v.error());
                   cfg.bare_newline_exempt = std::move(*v);
                   cfg.bare_newline_exempt_set = true;
                   return {};
                 }}})},
      {"submission", listener("submission", cfg.submission_listen)},
      {"submissions", listener("submissions", cfg.submissions_listen)},
      {"pop3", section("pop3", {{"listen", set(cfg.pop3_listen, get_listen, "pop3.listen")},
                                {"apop", set(cfg.pop3_apop, get_bool, "pop3.apop")},
                                {"idle_timeout", set(cfg.pop3_idle_timeout, get_duration,
                                                     "pop3.idle_timeout")}})},
      {"pop3s", listener("pop3s", cfg.pop3s_listen)},
      {"tls", section("tls",
                      {{"cert",
                        [&](const toml::node& n) -> Result<void> {
                          auto v = get_string(c, n, "tls.cert");
                          if (!v) return fail(v.error());
                          cert_raw = *v;
                          cert_set = true;
                          return {};
                        }},
                       {"key",
                        [&](const toml::node& n) -> Result<void> {
                          auto v = get_string(c, n, "tls.key");
                          if (!v) return fail(v.error());
                          key_raw = *v;
                          key_set = true;
                          return {};
                        }}})},
      {"auth",
       section("auth", {{"plaintext_networks",
                         set(cfg.plaintext_networks, get_cidrs, "auth.plaintext_networks")},
                        {"authenticated_header", set(cfg.authenticated_header, get_bool,
                                                     "auth.authenticated_header")},
                        {"scram", set(cfg.auth_scram, get_bool, "auth.scram")},
                        {"failure_ipv6_prefix", set(cfg.auth_failure_ipv6_prefix, get_ipv6_prefix,
                                                    "auth.failure_ipv6_prefix")},
                        {"failure_limit",
                         set(cfg.auth_failure_limit, get_count, "auth.failure_limit")},
                        {"failure_window",
                         set(cfg.auth_failure_window, get_duration, "auth.failure_window")},
                        {"failure_delay",
                         set(cfg.auth_failure_delay, get_duration, "auth.failure_delay")}})},
      {"relay",
       section("relay",
               {{"trusted_networks",
                 set(cfg.trusted_networks, get_cidrs, "relay.trusted_networks")},
                {"pop_before_smtp_ttl",
                 set(cfg.pop_before_smtp_ttl, get_duration, "relay.pop_before_smtp_ttl")},
                {"sender_login_match",
                 set(cfg.sender_login_match, get_bool, "relay.sender_login_match")},
                {"routes",
                 [&](const toml::node& n) -> Result<void> {
                   const auto* t = n.as_table();
                   if (!t) return fail(c.err(n, "'relay.routes' must be a table"));
                   for (const auto& [k, v] : *t) {
                     auto s = get_string(c, v, "relay.routes");
                     if (!s) return fail(s.error());
                     auto colon = s->rfind(':');
                     if (colon == std::string::npos || colon + 1 == s->size())
                       return fail(c.err(v, "route '" + *s + "' must be HOST:PORT"));
                     cfg.routes[lower(std::string(k.str()))] = *s;
                   }
                   return {};
                 }},
                {"mx_port",
                 [&](const toml::node& n) -> Result<void> {
                   auto v = get_count(c, n, "relay.mx_port");
                   if (!v || *v > 65535)
                     return fail(c.err(n, "'relay.mx_port' must be a port number (1-65535)"));
                   cfg.mx_port = static_cast<std::uint16_t>(*v);
                   return {};
                 }}})},
      {"dns", section("dns", {{"servers", set(cfg.dns_servers, get_strings, "dns.servers")},
                              {"reverse_timeout", set(cfg.dns_reverse_timeout, get_duration,
                                                      "dns.reverse_timeout")}})},
      {"spf", section("spf", {{"check", set(cfg.spf_check, get_bool, "spf.check")},
                              {"timeout", set(cfg.spf_timeout, get_duration, "spf.timeout")}})},
      {"limits",
       section("limits",
               {{"message_size", set(cfg.message_size, get_size, "limits.message_size")},
                {"recipients", set(cfg.recipients, get_count, "limits.recipients")},
                {"junk_commands", set(cfg.junk_commands, get_count, "limits.junk_commands")},
                {"disk_reserve",
                 set(cfg.disk_reserve, get_size_or_zero, "limits.disk_reserve")},
                {"command_timeout",
                 set(cfg.command_timeout, get_duration, "limits.command_timeout")},
                {"data_timeout", set(cfg.data_timeout, get_duration, "limits.data_timeout")},
                {"shutdown_grace", set(cfg.shutdown_grace, get_duration, "limits.shutdown_grace")},
                {"pregreet_wait", set(cfg.pregreet_wait, get_duration, "limits.pregreet_wait")},
                {"connections_per_ip",
                 set(cfg.connections_per_ip, get_count, "limits.connections_per_ip")},
                {"ipv6_prefix",
                 set(cfg.connections_ipv6_prefix, get_ipv6_prefix, "limits.ipv6_prefix")},
                {"connections", set(cfg.max_connections, get_count, "limits.connections")}})},
      {"queue",
       section("queue",
               {{"retry",
                 [&](const toml::node& n) -> Result<void> {
                   auto v = get_strings(c, n, "queue.retry");
                   if (!v) return fail(v.error());
                   cfg.queue_retry.clear();
                   for (const auto& s : *v) {
                     auto d = parse_duration(s);
                     if (!d || d->count() <= 0)
                       return fail(c.err(n, "'queue.retry' entry \"" + s + "\" is not a duration"));
                     cfg.queue_retry.push_back(*d);
                   }
                   return {};
                 }},
                {"lifetime", set(cfg.queue_lifetime, get_duration, "queue.lifetime")},
                {"delay_warning",
                 set(cfg.queue_delay_warning, get_duration, "queue.delay_warning")},
                {"max_connections",
                 set(cfg.queue_max_connections, get_count, "queue.max_connections")},
                {"destination_concurrency", set(cfg.queue_destination_concurrency, get_count,
                                                "queue.destination_concurrency")},
                {"active_messages",
                 set(cfg.queue_active_messages, get_count, "queue.active_messages")},
                {"connection_reuse",
                 set(cfg.queue_connection_reuse, get_count, "queue.connection_reuse")},
                {"scan_interval", set(cfg.queue_scan_interval, get_duration, "queue.scan_interval")},
                {"connect_timeout",
                 set(cfg.queue_connect_timeout, get_duration, "queue.connect_timeout")},
                {"greeting_timeout",
                 set(cfg.queue_greeting_timeout, get_duration, "queue.greeting_timeout")},
                {"data_timeout", set(cfg.queue_data_timeout, get_duration, "queue.data_timeout")}})},
  };

  if (auto r = walk(c, root, "", top); !r) return fail(r.error());

  if (cfg.hostname.empty()) return fail(Error::perm(path + ": 'hostname' must not be empty"));
  for (auto [key, value] : {std::pair{"queue.scan_interval", cfg.queue_scan_interval},
                            std::pair{"queue.connect_timeout", cfg.queue_connect_timeout},
                            std::pair{"queue.greeting_timeout", cfg.queue_greeting_timeout},
                            std::pair{"queue.data_timeout", cfg.queue_data_timeout}})
    if (value.count() <= 0)
      return fail(Error::perm(path + ": '" + key + "' must be longer than 0s"));
  if (data_dir_set) cfg.data_dir = absolute(cfg.base_dir, data_dir_raw);
  if (cert_set) cfg.tls_cert = absolute(cfg.base_dir, cert_raw);
  if (key_set) cfg.tls_key = absolute(cfg.base_dir, key_raw);
  if (cfg.pop_before_smtp_ttl.count() < 0) return fail(Error::perm("negative ttl"));
  if (cfg.auth_failure_window.count() <= 0)
    return fail(Error::perm(path + ": 'auth.failure_window' must be longer than 0s"));
  if (cfg.auth_failure_limit > Config::kMaxAuthFailureLimit)
    return fail(Error::perm(fmt::format("{}: 'auth.failure_limit' must be at most {}", path,
                                        Config::kMaxAuthFailureLimit)));
  if (!cfg.bare_newline_exempt_set) cfg.bare_newline_exempt = cfg.trusted_networks;
  return cfg;
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Error::perm(path + ": cannot read configuration: " + std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace tegami
