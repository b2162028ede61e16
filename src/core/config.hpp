// The tegami configuration (TOML, DESIGN §5 "Configuration").
//
// load_config() validates every key: an unknown key or a bad value is an
// error naming the file and line, and the server does not start. Relative
// paths are resolved against the configuration file's directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tegami {

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1"
  std::uint16_t port = 0;
  std::string to_string() const;
};

struct Cidr {
  std::string text;  // as written, for logs
  bool v6 = false;
  unsigned char addr[16] = {};
  int prefix = 0;
  // True when `ip` (textual IPv4 or IPv6; IPv4-mapped IPv6 counts as IPv4) is inside.
  bool contains(const std::string& ip) const;
};

Result<Cidr> parse_cidr(const std::string& s);
Result<ListenAddress> parse_listen(const std::string& s);

struct Config {
  std::string config_path;  // absolute path of the file loaded
  std::string base_dir;     // its directory
  std::string hostname = "localhost";
  std::string data_dir;  // absolute

  std::vector<ListenAddress> smtp_listen;
  // [smtp] bare_newline: "normalize" (default, as Postfix 3.9): a bare LF
  // ends a command or content line, only CRLF.CRLF ends DATA; "strict": a
  // bare LF is 550 5.5.2 and a drop, except for clients in
  // bare_newline_exempt (unset: the [relay] trusted_networks).
  bool bare_newline_strict = false;
  std::vector<Cidr> bare_newline_exempt;
  bool bare_newline_exempt_set = false;
  // postmaster: where mail to postmaster@ every local domain and the host
  // name goes (RFC 5321 §4.5.1), unless that address is itself an account
  // or alias. Empty: only such an account or alias receives it.
  std::string postmaster;
  std::vector<ListenAddress> submission_listen;
  std::vector<ListenAddress> submissions_listen;
  std::vector<ListenAddress> pop3_listen;
  std::vector<ListenAddress> pop3s_listen;
  bool pop3_apop = true;

  std::string tls_cert;  // absolute
  std::string tls_key;   // absolute

  std::vector<Cidr> plaintext_networks;
  // [auth] authenticated_header: write "(Authenticated sender: ACCOUNT)" into
  // Received: (off: the account is only logged, as it is personal data).
  bool authenticated_header = false;
  // [auth] scram: offer SMTP AUTH SCRAM-SHA-256. Only accounts with a sealed
  // secret (`user add --apop`) can use it, and clients that see it offered
  // pick it over PLAIN without falling back: enable it when every account
  // has a sealed secret.
  bool auth_scram = false;
  // [auth] failure_*: password guessing (src/auth/auth_throttle.hpp). Failures
  // count per client network (IPv4 address, IPv6 /failure_ipv6_prefix); the
  // n-th is answered after failure_delay * 2^(n-1) (at most 15 s); from
  // failure_limit counted failures on, the network is refused before any
  // password is checked until failure_window has passed since its last one.
  static constexpr unsigned kMaxAuthFailureLimit = 1000;
  unsigned auth_failure_ipv6_prefix = 48;
  std::uint64_t auth_failure_limit = 10;
  std::chrono::seconds auth_failure_window{15 * 60};
  std::chrono::seconds auth_failure_delay{2};
  std::vector<Cidr> trusted_networks;
  std::chrono::seconds pop_before_smtp_ttl{600};
  // [relay] sender_login_match: a client relaying by AUTH or by a POP-before-
  // SMTP grant may send only as its own address or its aliases.
  bool sender_login_match = true;
  std::map<std::string, std::string> routes;  // lower-case domain -> "host:port"
  // [relay] mx_port: the TCP port of MX hosts. Always 25 (RFC 5321 §4.5.4.2)
  // except in tests, where the "MX" is a second server on a high port.
  std::uint16_t mx_port = 25;

  std::vector<std::string> dns_servers;
  // [dns] reverse_timeout: how long a client's reverse lookup may take
  // before it is "unknown" and served anyway (issue 14).
  std::chrono::seconds dns_reverse_timeout{5};
  // [spf] (issue 17): check the MAIL FROM identity (RFC 7208) of clients on
  // the smtp listener that are neither authenticated nor trusted, and how
  // long one check may take (RFC 7208 §4.6.4: at least 20 seconds).
  bool spf_check = true;
  std::chrono::seconds spf_timeout{20};

  std::uint64_t message_size = 25ull * 1024 * 1024;
  std::size_t recipients = 100;
  // [limits] junk_commands (issue 14): SMTP NOOP/VRFY/RSET/HELP/EXPN and
  // erroneous commands per session, and POP3 commands before login, before
  // 421 (SMTP) or -ERR (POP3) and close. A positive integer.
  std::size_t junk_commands = 100;
  // [limits] disk_reserve (issue 15, Postfix's queue_minfree): MAIL is
  // answered 452 4.3.1 while the free space of the file system(s) holding
  // data_dir, its mail and its queue is below this many bytes (or would be,
  // after a message of the declared SIZE=), so that the bounces, queue
  // updates and directory writes of mail already accepted always find room.
  // 0: no check. Default 256 MiB: ten times the default message_size, and
  // room for a burst of messages in flight between MAIL and the end of DATA.
  static constexpr std::uint64_t kDefaultDiskReserve = 256ull * 1024 * 1024;
  std::uint64_t disk_reserve = kDefaultDiskReserve;
  std::chrono::seconds command_timeout{300};
  std::chrono::seconds data_timeout{600};
  std::chrono::seconds pop3_idle_timeout{600};
  std::chrono::seconds shutdown_grace{30};
  // SMTP: wait this long for an early talker before greeting (0: only look).
  std::chrono::seconds pregreet_wait{0};
  // Connections per client network: an IPv4 address, or an IPv6 network of
  // [limits] ipv6_prefix bits (core/network_key.hpp).
  std::size_t connections_per_ip = 20;
  unsigned connections_ipv6_prefix = 64;
  std::size_t max_connections = 2000;

  std::vector<std::chrono::seconds> queue_retry;
  std::chrono::seconds queue_lifetime{5 * 86400};
  std::chrono::seconds queue_delay_warning{4 * 3600};
  // The queue manager (issue 15, server/queue_runner.hpp): outbound
  // connections in total, per destination (the slow start's ceiling),
  // envelopes in memory, messages per connection, the spool scan that finds
  // deferred entries again, and the SMTP client's timeouts (RFC 5321
  // §4.5.3.2 minimums for the greeting and the final dot by default).
  std::size_t queue_max_connections = 100;
  std::size_t queue_destination_concurrency = 20;
  std::size_t queue_active_messages = 1000;
  std::size_t queue_connection_reuse = 20;
  std::chrono::seconds queue_scan_interval{300};
  std::chrono::seconds queue_connect_timeout{30};
  std::chrono::seconds queue_greeting_timeout{300};
  std::chrono::seconds queue_data_timeout{600};

  // Derived paths.
  std::string directory_path() const { return data_dir + "/directory.sqlite"; }
  std::string mail_dir() const { return data_dir + "/mail"; }
  std::string queue_dir() const { return data_dir + "/queue"; }
  std::string secret_key_path() const { return base_dir + "/secret.key"; }
};

// Parses and validates the file. Errors read "FILE:LINE: what is wrong".
Result<Config> load_config(const std::string& path);
// Same, from text (for tests); `path` names the file in messages and anchors relative paths.
Result<Config> parse_config(const std::string& text, const std::string& path);

}  // namespace tegami
