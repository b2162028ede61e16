// `tegami init DIR [--domain D] [--hostname H]`: a ready-to-run installation.
//
// Creates DIR/tegami.toml (every contract key with its default, commented),
// DIR/data/ with the directory database, DIR/tls/ with a self-signed
// certificate, and DIR/secret.key. Refuses to touch an installation that
// exists. All or nothing: on failure, what this run created is removed; the
// configuration file is written last (atomically), so its presence means a
// complete installation.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "app/cli.hpp"
#include "app/tls_files.hpp"
#include "auth/password.hpp"
#include "auth/sealed.hpp"
#include "core/base64.hpp"
#include "store/sqlite/address_rules.hpp"

namespace tegami::cli {

namespace {

namespace fs = std::filesystem;

// DESIGN §5 "Configuration", with the defaults of core/config.cpp.
constexpr const char* kConfigTemplate = R"toml(# tegami configuration, written by `tegami init`.
# Relative paths are relative to this file's directory.
# Durations are written 30s, 10m, 2h, 5d; sizes 512KiB, 25MiB.
# An empty `listen` list disables that listener; port 0 means "pick one".

# This server's name: greetings, Received: lines, the TLS certificate.
hostname = "{hostname}"
data_dir = "data"                 # directory.sqlite, maildirs, spool
# Who reads mail to postmaster@ each local domain and @hostname (RFC 5321
# 4.5.1), the bounces' questions, double bounces and bounces for unknown
# local senders (docs/outbound.md); an account or alias postmaster@DOMAIN
# of its own wins. Empty: only such accounts or aliases receive it.
postmaster = "{postmaster}"

[smtp]                            # inbound MX: local recipients; relay only per [relay]
listen = ["127.0.0.1:2525"]
# A bare LF (no CR): "normalize" ends the line there (only CRLF.CRLF ends
# DATA), as Postfix 3.9 does; "strict" answers 550 5.5.2 and drops, except
# for bare_newline_exempt (default: the [relay] trusted_networks).
bare_newline = "normalize"
# bare_newline_exempt = ["127.0.0.1/32"]

[submission]                      # needs SMTP AUTH or a POP-before-SMTP grant
listen = ["127.0.0.1:2587"]

[submissions]                     # implicit TLS (RFC 8314)
listen = ["127.0.0.1:2465"]

[pop3]
listen = ["127.0.0.1:2110"]
apop = true                       # APOP timestamp in the greeting (RFC 1939 section 7)

[pop3s]                           # implicit TLS
listen = ["127.0.0.1:2995"]

[tls]
cert = "tls/cert.pem"             # self-signed by `tegami init`; replace with a real one
key = "tls/key.pem"

[auth]
plaintext_networks = ["127.0.0.0/8", "::1/128"]   # clear-text passwords allowed without TLS
authenticated_header = false      # true: Received: names the SMTP AUTH account
scram = false                     # SCRAM-SHA-256 on submission; needs every user added with --apop
# Password guessing (SMTP AUTH and POP3 together), counted per client network:
# an IPv4 address or an IPv6 /failure_ipv6_prefix. The n-th failure waits
# failure_delay * 2^(n-1) (at most 15s); at failure_limit the network is refused
# before any password is checked until failure_window has passed.
failure_limit = 10
failure_window = "15m"
failure_delay = "2s"
failure_ipv6_prefix = 48

[relay]
trusted_networks = ["127.0.0.1/32"]
pop_before_smtp_ttl = "10m"
sender_login_match = true         # AUTH/POP-before-SMTP users send only as themselves or aliases
routes = {{}}                      # static next hops, override MX: {{ "example.net" = "127.0.0.1:2526" }}

[dns]
servers = []                      # empty: the system resolver; e.g. ["127.0.0.1:5353"]
reverse_timeout = "5s"            # a client's reverse DNS may take this long, then it is "unknown"

[spf]                             # RFC 7208, on the smtp listener (port 25) only
check = true                      # check MAIL FROM of clients neither authenticated nor trusted;
                                  # the result goes into Authentication-Results: and the log
timeout = "20s"                   # one check (all its DNS lookups) may take this long: temperror

[limits]
message_size = "25MiB"
recipients = 100
# connections_per_ip = 20         # per client network: an IPv4 address or an IPv6 /ipv6_prefix
ipv6_prefix = 64                  # how many bits of an IPv6 address name one client network
junk_commands = 100               # SMTP NOOP/VRFY/RSET/HELP/bad commands per session, POP3 commands before login
# Free disk space kept in reserve (like Postfix's queue_minfree): below it, on
# the file system(s) of data_dir, its mail and its queue, MAIL is answered
# "452 4.3.1" (also when free space minus the declared SIZE= would fall below),
# so bounces and queue updates always find room. "0" turns the check off;
# keep it well above 1.5 x message_size.
disk_reserve = "256MiB"

[queue]
retry = ["5m", "15m", "30m", "1h", "2h", "4h"]
lifetime = "5d"
delay_warning = "4h"
# The queue manager. Each destination (a domain, or a route's next hop) has
# its own queue; it starts with one connection and gets one more for each
# message delivered, up to destination_concurrency; when no host of it
# answers, it is marked dead until the first retry interval has passed and
# its mail is deferred without a connection per message.
max_connections = 100              # outbound connections in total
destination_concurrency = 20       # outbound connections per destination
active_messages = 1000             # queued messages held in memory at a time
connection_reuse = 20              # messages sent over one connection (RSET between)
scan_interval = "5m"               # how often the spool is scanned for deferred mail
connect_timeout = "30s"
greeting_timeout = "5m"            # RFC 5321 §4.5.3.2.1
data_timeout = "10m"               # the reply to the final dot, RFC 5321 §4.5.3.2.6
)toml";

std::string system_hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// What this run created, removed in reverse order unless disarmed.
class Undo {
 public:
  ~Undo() {
    if (armed_)
      for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) {
        std::error_code ec;
        fs::remove_all(*it, ec);
      }
  }
  void add(const std::string& p) { paths_.push_back(p); }
  void disarm() { armed_ = false; }

 private:
  std::vector<std::string> paths_;
  bool armed_ = true;
};

Result<void> make_dir(const std::string& path, mode_t mode, Undo& undo, bool& created) {
  created = false;
  if (::mkdir(path.c_str(), mode) == 0) {
    created = true;
    undo.add(path);
    return {};
  }
  std::error_code ec;
  if (errno == EEXIST && fs::is_directory(path, ec)) return {};
  return fail(Error::perm("cannot create directory " + path + ": " + std::strerror(errno)));
}

Result<void> write_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return fail(Error::perm("cannot create " + tmp + ": " + std::strerror(errno)));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail(Error::perm("cannot write " + path + ": " + std::strerror(err)));
  }
  std::string dir = fs::path(path).parent_path().string();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

struct InitOptions {
  std::string dir;
  std::string domain;
  std::string hostname;
  std::string postmaster;
};

int run_init(const InitOptions& o) {
  std::string hostname = o.hostname.empty() ? system_hostname() : o.hostname;
  auto host = address_rules::check_domain(hostname);
  if (!host) return report("bad --hostname: " + host.error().message);
  std::optional<std::string> domain;
  if (!o.domain.empty()) {
    auto d = address_rules::check_domain(o.domain);
    if (!d) return report("bad --domain: " + d.error().message);
    domain = *d;
  }

  // The postmaster (RFC 5321 §4.5.1): the address given, else a new account
  // postmaster@DOMAIN with a random password nobody knows (set one with
  // `tegami user passwd`, or point `postmaster` at an existing account).
  std::string postmaster = o.postmaster;
  for (auto& ch : postmaster) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!postmaster.empty()) {
    auto at = postmaster.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == postmaster.size() ||
        postmaster.find_first_of("\" \\\r\n\t") != std::string::npos)
      return report("bad --postmaster: must be an address LOCAL@DOMAIN");
  }
  const bool create_postmaster = postmaster.empty() && domain.has_value();
  if (create_postmaster) postmaster = "postmaster@" + *domain;

  std::error_code ec;
  const std::string dir = fs::absolute(o.dir, ec).lexically_normal().string();
  if (ec) return report("bad directory " + o.dir + ": " + ec.message());
  const std::string conf = dir + "/tegami.toml", data = dir + "/data", tls = dir + "/tls";
  const std::string cert = tls + "/cert.pem", key = tls + "/key.pem", secret = dir + "/secret.key",
                    db_path = data + "/directory.sqlite";
  for (const auto& p : {conf, cert, key, secret, db_path}) {
    if (fs::exists(fs::symlink_status(p, ec)))
      return report(p + " already exists; refusing to overwrite an installation");
  }

  Undo undo;
  std::vector<std::string> created;
  bool made = false;
  if (auto r = make_dir(dir, 0755, undo, made); !r) return report(r.error());
  if (auto r = make_dir(data, 0700, undo, made); !r) return report(r.error());
  if (made) created.push_back(data + "/");
  if (auto r = make_dir(tls, 0700, undo, made); !r) return report(r.error());
  if (made) created.push_back(tls + "/");

  if (auto r = write_self_signed(cert, key, *host); !r) return report(r.error());
  undo.add(cert);
  undo.add(key);
  created.push_back(cert);
  created.push_back(key);

  if (auto r = create_key_file(secret); !r) return report(r.error());
  undo.add(secret);
  created.push_back(secret);

  {
    undo.add(db_path);
    undo.add(db_path + "-wal");
    undo.add(db_path + "-shm");
    auto db = SqliteDb::open(db_path);
    if (!db) return report(db.error());
    if (domain) {
      SqliteDirectory directory(*db);
      if (auto r = directory.add_domain(*domain); !r) return report(r.error());
      if (create_postmaster) {
        unsigned char rnd[24];
        if (RAND_bytes(rnd, sizeof rnd) != 1) return report("cannot make a random password");
        std::string pw = base64_encode(std::string_view(reinterpret_cast<char*>(rnd), sizeof rnd));
        auto h = hash_password(pw);
        OPENSSL_cleanse(pw.data(), pw.size());
        if (!h) return report(h.error());
        if (auto r = directory.add_user(postmaster, *h, std::nullopt); !r) return report(r.error());
      }
    }
    created.push_back(db_path);
  }

  std::string text =
      fmt::format(kConfigTemplate, fmt::arg("hostname", *host), fmt::arg("postmaster", postmaster));
  // The file we write must be one we accept.
  if (auto check = parse_config(text, conf); !check)
    return report("internal error: generated configuration does not parse: " +
                  check.error().message);
  if (auto r = write_atomically(conf, text); !r) return report(r.error());
  created.insert(created.begin(), conf);
  undo.disarm();

  for (const auto& p : created) std::cout << p << "\n";
  if (create_postmaster)
    std::cerr << "postmaster: mail to postmaster@ goes to the new account " << postmaster
              << "; give it a password with `tegami -c " << conf << " user passwd " << postmaster
              << "`\n";
  return kExitOk;
}

}  // namespace

void add_init_command(CLI::App& app, CliContext& ctx) {
  auto opts = std::make_shared<InitOptions>();
  auto* sub = app.add_subcommand("init", "create a configuration, data and TLS files in DIR");
  sub->add_option("DIR", opts->dir, "installation directory")->required();
  sub->add_option("--domain", opts->domain, "also add this local mail domain");
  sub->add_option("--hostname", opts->hostname, "the server's host name (default: this host's)");
  sub->add_option("--postmaster", opts->postmaster,
                  "who receives postmaster@ mail (default: a new account postmaster@DOMAIN)");
  sub->callback([opts, &ctx] { ctx.exit_code = run_init(*opts); });
}

}  // namespace tegami::cli
