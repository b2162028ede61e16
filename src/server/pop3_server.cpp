#include "server/pop3_server.hpp"

#include <sys/stat.h>
#include <sys/uio.h>  // preadv2, RWF_NOWAIT
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <random>

#include "auth/apop.hpp"
#include "core/log.hpp"
#include "core/network_key.hpp"
#include "net/session_stream.hpp"
#include "proto/pop3/message_format.hpp"
#include "proto/pop3/server_session.hpp"
#include "server/admission.hpp"
#include "server/credentials.hpp"
#include "server/tls_handshake.hpp"
#include "store/maildir/maildir_store.hpp"

namespace tegami::server {

namespace {

// Clients send only commands (RFC 2449: 255 octets; SASL lines longer, read
// in several pieces): a small buffer keeps idle connections small (issue 16).
constexpr std::size_t kReadChunk = 2 * 1024;
// Flush the write buffer once it holds this much (RETR of a large message).
constexpr std::size_t kFlushAt = 256 * 1024;
// RETR/TOP read the message file in chunks of this size.
constexpr std::size_t kFileChunk = 128 * 1024;
// What the trip that opens a message reads at once (issue 16: most mail is
// smaller, and then RETR costs one trip to the worker pool, not two).
constexpr std::size_t kFirstChunk = 32 * 1024;

// Reads up to `n` octets; a short count means the end of the (regular)
// file. -errno on error.
ssize_t read_full(int fd, char* buf, std::size_t n) {
  std::size_t have = 0;
  while (have < n) {
    ssize_t got = ::read(fd, buf + have, n - have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -static_cast<ssize_t>(errno);  // errno is per thread
    if (got == 0) break;
    have += static_cast<std::size_t>(got);
  }
  return static_cast<ssize_t>(have);
}

std::uint64_t random64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

class Pop3Driver {
 public:
  Pop3Driver(ServerContext& ctx, std::shared_ptr<Connection> conn, Pop3Listener kind)
      : ctx_(ctx), conn_(std::move(conn)), kind_(kind) {}
  net::awaitable<void> run();

 private:
  net::awaitable<pop3::Actions> perform(const pop3::Action& a, bool& close);
  net::awaitable<bool> flush();
  net::awaitable<pop3::Actions> start_tls(bool& close);
  // RETR/TOP: the opened message, streamed through a bounded buffer (issue
  // 13). False: the connection must close (a write failed, or the file could
  // not be read half-way: the response cannot be completed honestly).
  net::awaitable<bool> send_message(const pop3::SendMessage& m);
  // ReadMessage on the event loop: true when the message could be opened
  // and its first octets read from the kernel's caches (RESOLVE_CACHED,
  // RWF_NOWAIT); false leaves nothing open (the worker pool does it then).
  bool open_cached(std::size_t index);
  void close_message() {
    if (message_fd_ >= 0) ::close(message_fd_);
    message_fd_ = -1;
    first_.clear();
    first_.shrink_to_fit();  // idle connections stay small
    whole_ = false;
  }
  // Looks the account up and checks `secret` with `check`; unknown accounts
  // cost the same password verification (no enumeration by timing).
  pop3::AuthResult verify_password_login(const std::string& user, const std::string& password);
  pop3::AuthResult verify_apop(const std::string& user, const std::string& ts,
                               const std::string& digest);
  // Before any password is checked (issue 14): false, logged, when the
  // client's network is over the failure limit ([auth] failure_limit,
  // checks in progress included); else attempt_ holds this check until its
  // LoginFailed or LoggedIn.
  bool begin_attempt(std::string_view user, pop3::Mechanism mechanism);
  static pop3::AuthResult locked_result() {
    pop3::AuthResult r;
    r.failure = pop3::Failure::TooManyFailures;
    return r;
  }

  ServerContext& ctx_;
  std::shared_ptr<Connection> conn_;
  Pop3Listener kind_;
  std::string sid_, ip_, out_;
  std::string network_;  // the client network the TLS handshake share counts
  std::unique_ptr<pop3::ServerSession> sm_;
  std::unique_ptr<Maildrop> maildrop_;
  std::string last_user_;  // the user name of the login being checked, as sent
  std::uint64_t last_fingerprint_ = 0;
  AuthThrottle::Attempt attempt_;
  int message_fd_ = -1;  // between ReadMessage and SendMessage
  std::string first_;    // the message's first octets, read when it was opened
  bool whole_ = false;   // first_ is the whole message (message_fd_ is closed)
 public:
  ~Pop3Driver() { close_message(); }
};

bool Pop3Driver::open_cached(std::size_t index) {
  static std::atomic<bool> no_nowait{false};  // a kernel without RWF_NOWAIT reads
  if (no_nowait.load(std::memory_order_relaxed)) return false;
  const int fd = maildrop_->open_message_cached(index);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return false;
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::size_t want = std::min(size, kFirstChunk);
  std::string first;
  first.resize(want);
  // RWF_NOWAIT: EAGAIN (or a short count) instead of waiting for the disk.
  iovec iov{first.data(), want};
  ssize_t n = want == 0 ? 0 : ::preadv2(fd, &iov, 1, 0, RWF_NOWAIT);
  if (n < 0 || static_cast<std::size_t>(n) != want) {
    if (n < 0 && errno == EOPNOTSUPP) no_nowait.store(true, std::memory_order_relaxed);
    ::close(fd);
    return false;
  }
  first_ = std::move(first);
  if (size <= kFirstChunk) {
    // The whole message (a file that grew since fstat would be a foreign
    // writer in our Maildir; the snapshot's size is what LIST announced).
    ::close(fd);
    whole_ = true;
  } else {
    message_fd_ = fd;
    if (::lseek(fd, static_cast<off_t>(want), SEEK_SET) < 0) {
      close_message();
      return false;
    }
  }
  return true;
}

net::awaitable<bool> Pop3Driver::send_message(const pop3::SendMessage& m) {
  if (message_fd_ < 0 && !whole_) co_return false;
  pop3::MultilineEncoder enc(m.top_lines);
  bool ok = true;
  bool more = enc.feed(first_, out_);
  if (more && !whole_) {
    const int fd = message_fd_;
    std::unique_ptr<char[]> chunk(new char[kFileChunk]);  // not zeroed: read() fills it
    for (bool eof = false; !eof;) {
      // Fill the chunk (or reach the end) in one trip to the worker pool.
      auto got = co_await ctx_.workers.run([fd, buf = chunk.get(), &eof]() -> ssize_t {
        ssize_t n = read_full(fd, buf, kFileChunk);
        if (n >= 0 && static_cast<std::size_t>(n) < kFileChunk) eof = true;
        return n;
      });
      if (got < 0) {
        spdlog::error("pop3 {} cannot read message {}: {}", sid_, m.index + 1,
                      std::strerror(static_cast<int>(-got)));
        ok = false;
        break;
      }
      if (!enc.feed(std::string_view(chunk.get(), static_cast<std::size_t>(got)), out_)) break;
      if (out_.size() >= kFlushAt && !co_await flush()) {
        ok = false;
        break;
      }
    }
  }
  close_message();
  if (!ok) co_return false;
  enc.finish(out_);
  if (out_.size() >= kFlushAt && !co_await flush()) co_return false;
  co_return true;
}

net::awaitable<bool> Pop3Driver::flush() {
  return flush_replies(*conn_, out_);
}

pop3::AuthResult Pop3Driver::verify_password_login(const std::string& user,
                                                   const std::string& password) {
  pop3::AuthResult r;
  auto c = check_password(ctx_, user, password);
  switch (c.kind) {
    case CredentialCheck::Kind::kOk:
      r.ok = true;
      r.account = std::move(c.account);
      break;
    case CredentialCheck::Kind::kBadCredentials:
      r.failure = pop3::Failure::BadCredentials;
      break;
    case CredentialCheck::Kind::kTempFailure:
      r.failure = pop3::Failure::TempFailure;
      break;
  }
  return r;
}

bool Pop3Driver::begin_attempt(std::string_view user, pop3::Mechanism mechanism) {
  attempt_ = ctx_.throttle.begin(ip_);
  if (attempt_) return true;
  spdlog::warn("pop3 {} login refused ip={} network={} user={} mechanism={}: too many failures",
               sid_, ip_, ctx_.throttle.network(ip_), log_safe(user), pop3::to_string(mechanism));
  return false;
}

pop3::AuthResult Pop3Driver::verify_apop(const std::string& user, const std::string& ts,
                                         const std::string& digest) {
  pop3::AuthResult r;
  auto acct = ctx_.directory.find_account(user);
  if (!acct) {
    r.failure = pop3::Failure::TempFailure;
    return r;
  }
  if (!*acct || !(*acct)->apop_sealed || !ctx_.secret_key) {
    r.failure = pop3::Failure::BadCredentials;
    return r;
  }
  auto secret = sealed::open(*ctx_.secret_key, *(*acct)->apop_sealed, (*acct)->address);
  if (!secret) {
    spdlog::error("pop3 {} cannot unseal the APOP secret of {}: {}", sid_, (*acct)->address,
                  secret.error().message);
    r.failure = pop3::Failure::TempFailure;
    return r;
  }
  if (!apop_verify(ts, *secret, digest)) {
    r.failure = pop3::Failure::BadCredentials;
    return r;
  }
  r.ok = true;
  r.account = (*acct)->address;
  return r;
}

net::awaitable<pop3::Actions> Pop3Driver::perform(const pop3::Action& action, bool& close) {
  auto& stream = conn_->stream;
  if (auto* r = std::get_if<pop3::Reply>(&action)) {
    out_ += r->text;
    if (out_.size() >= kFlushAt && !co_await flush()) close = true;
    co_return pop3::Actions{};
  }
  if (auto* v = std::get_if<pop3::VerifyUserPass>(&action)) {
    if (!begin_attempt(v->user, pop3::Mechanism::UserPass)) co_return sm_->step(locked_result());
    last_user_ = v->user;
    last_fingerprint_ = AuthThrottle::fingerprint(v->user, v->password);
    auto res = co_await ctx_.hashing().run(
        [this, v] { return verify_password_login(v->user, v->password); });
    co_return sm_->step(res);
  }
  if (auto* v = std::get_if<pop3::VerifyPlain>(&action)) {
    if (!begin_attempt(v->authcid, pop3::Mechanism::SaslPlain))
      co_return sm_->step(locked_result());
    last_user_ = v->authcid;
    last_fingerprint_ = AuthThrottle::fingerprint(v->authcid, v->password);
    if (!v->authzid.empty() && v->authzid != v->authcid) {
      pop3::AuthResult no;
      no.failure = pop3::Failure::BadCredentials;
      co_return sm_->step(no);
    }
    auto res = co_await ctx_.hashing().run(
        [this, v] { return verify_password_login(v->authcid, v->password); });
    co_return sm_->step(res);
  }
  if (auto* v = std::get_if<pop3::VerifyApop>(&action)) {
    if (!begin_attempt(v->user, pop3::Mechanism::Apop)) co_return sm_->step(locked_result());
    last_user_ = v->user;
    last_fingerprint_ = AuthThrottle::fingerprint(v->user, v->digest);
    auto res = co_await ctx_.hashing().run(
        [this, v] { return verify_apop(v->user, v->timestamp, v->digest); });
    co_return sm_->step(res);
  }
  if (auto* f = std::get_if<pop3::LoginFailed>(&action)) {
    auto delay = ctx_.throttle.failure(ip_, last_user_, last_fingerprint_);
    attempt_.release();  // counted as a failure now
    spdlog::warn(
        "pop3 {} login failed ip={} network={} user={} mechanism={} failures={} delay={}ms", sid_,
        ip_, ctx_.throttle.network(ip_), log_safe(f->user), pop3::to_string(f->mechanism),
        ctx_.throttle.failures(ip_), delay.count());
    if (!co_await flush()) close = true;
    asio::steady_timer t(stream.executor(), delay);
    co_await t.async_wait(net::kNoThrow);
    co_return pop3::Actions{};
  }
  if (auto* l = std::get_if<pop3::LoggedIn>(&action)) {
    ctx_.throttle.success(ip_, last_user_);
    attempt_.release();
    spdlog::info("pop3 {} login ip={} account={} mechanism={} messages={}", sid_, ip_, l->account,
                 pop3::to_string(l->mechanism), maildrop_ ? maildrop_->entries().size() : 0);
    auto expires = ctx_.clock.now() + ctx_.config.pop_before_smtp_ttl;
    auto g = co_await ctx_.workers.run(
        [this, l, &expires] { return ctx_.grants.record(ip_, l->account, expires); });
    if (!g)
      spdlog::warn("pop3 {} cannot record POP-before-SMTP grant: {}", sid_, g.error().message);
    co_return pop3::Actions{};
  }
  if (auto* o = std::get_if<pop3::OpenMaildrop>(&action)) {
    pop3::MaildropOpened ev;
    auto md = co_await ctx_.workers.run([this, o]() -> Result<std::unique_ptr<Maildrop>> {
      auto a = ctx_.directory.find_account(o->account);
      if (!a) return fail(a.error());
      if (!*a) return fail(Error::temp("account vanished"));
      return ctx_.mailboxes.open_maildrop((*a)->mailbox);
    });
    if (md) {
      maildrop_ = std::move(*md);
      ev.ok = true;
      for (const auto& e : maildrop_->entries()) ev.messages.push_back({e.size, e.uid});
    } else {
      ev.failure = md.error().enhanced == MaildirStore::kInUse ? pop3::Failure::InUse
                                                               : pop3::Failure::TempFailure;
      if (ev.failure == pop3::Failure::TempFailure)
        spdlog::error("pop3 {} cannot open maildrop of {}: {}", sid_, o->account,
                      md.error().message);
    }
    co_return sm_->step(ev);
  }
  if (auto* rm = std::get_if<pop3::ReadMessage>(&action)) {
    close_message();
    pop3::MessageData ev;
    ev.index = rm->index;
    // Without leaving the event loop when the kernel has the path, inode
    // and data cached (most RETRs right after a LIST or a delivery): two
    // thread hops per message were a third of POP3's CPU (issue 16).
    if (open_cached(rm->index)) {
      ev.ok = true;
      co_return sm_->step(ev);
    }
    // One trip: open, and read the first octets (for most messages, all).
    struct Opened {
      int fd = -1;
      std::string first;
      bool whole = false;
    };
    auto opened = co_await ctx_.workers.run([this, rm]() -> Result<Opened> {
      auto fd = maildrop_->open_message(rm->index);
      if (!fd) return fail(fd.error());
      Opened o;
      o.fd = *fd;
      o.first.resize(kFirstChunk);
      ssize_t n = read_full(o.fd, o.first.data(), o.first.size());
      if (n < 0) {
        ::close(o.fd);
        return fail(Error::temp(std::strerror(static_cast<int>(-n))));
      }
      o.first.resize(static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < kFirstChunk) {
        o.whole = true;
        ::close(o.fd);
        o.fd = -1;
      }
      return o;
    });
    ev.ok = static_cast<bool>(opened);
    if (opened) {
      message_fd_ = opened->fd;
      first_ = std::move(opened->first);
      whole_ = opened->whole;
    } else {
      spdlog::error("pop3 {} cannot read message {}: {}", sid_, rm->index + 1,
                    opened.error().message);
    }
    co_return sm_->step(ev);
  }
  if (auto* sm = std::get_if<pop3::SendMessage>(&action)) {
    if (!co_await send_message(*sm)) close = true;
    co_return pop3::Actions{};
  }
  if (auto* c = std::get_if<pop3::Commit>(&action)) {
    auto r = co_await ctx_.workers.run(
        [this, c] { return maildrop_->commit(c->deleted, c->retrieved); });
    if (!r) spdlog::error("pop3 {} update failed: {}", sid_, r.error().message);
    pop3::UpdateDone ev;
    ev.ok = static_cast<bool>(r);
    co_return sm_->step(ev);
  }
  if (std::get_if<pop3::StartTls>(&action)) co_return co_await start_tls(close);
  if (std::get_if<pop3::Close>(&action)) {
    close = true;
    co_return pop3::Actions{};
  }
  co_return pop3::Actions{};
}

net::awaitable<pop3::Actions> Pop3Driver::start_tls(bool& close) {
  // "+OK begin TLS negotiation" must reach the client before the handshake.
  pop3::TlsStarted ev;
  if (!co_await flush()) {
    close = true;
    co_return pop3::Actions{};
  }
  if (ctx_.tls != nullptr) {
    std::string log_id = "pop3 " + sid_;
    auto r = co_await server_handshake(*ctx_.tls, conn_->stream, log_id, network_);
    ev.ok = r == HandshakeResult::kOk;
  }
  // On failure the machine closes; the stream is unusable anyway.
  co_return sm_->step(ev);
}

net::awaitable<void> Pop3Driver::run() {
  auto& stream = conn_->stream;
  const auto& cfg = ctx_.config;
  ip_ = stream.remote_ip();
  network_ = network_key(ip_, cfg.connections_ipv6_prefix);
  sid_ = ctx_.new_session_id('P');
  // RFC 8314 §3: on pop3s the handshake comes before the greeting.
  if (kind_ == Pop3Listener::kPop3s &&
      !co_await start_implicit_tls(ctx_, *conn_, "pop3 " + sid_, network_))
    co_return;
  // Clear-text passwords only inside TLS or from [auth] plaintext_networks
  // (RFC 8314 §3, RFC 2595 §2.1). STLS later lifts the restriction in the
  // machine itself.
  bool plaintext = stream.is_tls();
  for (const auto& n : cfg.plaintext_networks)
    if (n.contains(ip_)) plaintext = true;

  pop3::Config pc;
  pc.session_id = sid_;
  pc.hostname = cfg.hostname;
  pc.apop = cfg.pop3_apop;
  if (cfg.pop3_apop) {
    auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(ctx_.clock.now().time_since_epoch())
            .count();
    pc.apop_timestamp =
        pop3::make_apop_timestamp(static_cast<std::uint64_t>(::getpid()), ++ctx_.apop_counter,
                                  static_cast<std::uint64_t>(secs), random64(), cfg.hostname);
  }
  pc.plaintext_allowed = plaintext;
  pc.max_commands_before_login = cfg.junk_commands;
  pc.stls_offered = ctx_.tls != nullptr && !stream.is_tls();
  sm_ = std::make_unique<pop3::ServerSession>(pc);
  spdlog::info("pop3 {} connect ip={} port={} listener={}{}", sid_, ip_, stream.local_port(),
               kind_ == Pop3Listener::kPop3s ? "pop3s" : "pop3",
               stream.is_tls() ? " tls=" + stream.tls_protocol() : std::string());

  std::deque<pop3::Action> queue;
  auto push = [&queue](pop3::Actions a) {
    for (auto& x : a) queue.push_back(std::move(x));
  };
  push(sm_->step(pop3::Connected{}));
  std::string buf(kReadChunk, '\0');
  bool close = false;
  while (!close) {
    while (!queue.empty() && !close) {
      auto action = std::move(queue.front());
      queue.pop_front();
      push(co_await perform(action, close));
    }
    if (close || sm_->state() == pop3::State::Closed) break;
    const ReadResult got = co_await read_client(
        *conn_, out_, buf, command_wait(ctx_, cfg.pop3_idle_timeout), /*idle=*/true);
    if (got.outcome == ReadOutcome::kData) {
      push(sm_->step(pop3::Input{std::string_view(buf.data(), got.size)}));
    } else if (got.outcome == ReadOutcome::kTimedOut) {
      spdlog::info("pop3 {} ip={} idle timeout", sid_, ip_);
      push(sm_->step(pop3::Timeout{}));
    } else if (got.outcome == ReadOutcome::kStopped) {
      out_ += "-ERR [SYS/TEMP] Server shutting down, no changes made\r\n";
      break;
    } else {
      break;  // the peer went away: no UPDATE (RFC 1939 §6)
    }
  }
  co_await write_final(*conn_, out_);
  maildrop_.reset();  // releases the lock (before waiting for a TLS close_notify)
  co_await close_session(*conn_);
  const auto& st = sm_->stats();
  spdlog::info("pop3 {} logout ip={} account={} retrieved={} deleted={} committed={}", sid_, ip_,
               st.account.empty() ? "-" : st.account, st.retrieved, st.deleted,
               st.committed ? "yes" : "no");
}

}  // namespace

net::awaitable<void> run_pop3_session(ServerContext& ctx, net::tcp::socket socket,
                                      Pop3Listener kind) {
  net::ConnectionRegistry::Ticket ticket;
  // A named std::function, not a temporary inside the co_await expression
  // (g++ 12, PR 100611).
  std::function<std::string(net::ConnectionRegistry::Admit)> refusal =
      [kind](net::ConnectionRegistry::Admit) -> std::string {
    // On pop3s the client expects a TLS handshake: clear text would only
    // confuse it, and a handshake is what the limit protects.
    if (kind != Pop3Listener::kPop3) return {};
    return "-ERR [SYS/TEMP] Too many connections, try again later\r\n";
  };
  auto conn = co_await admit_connection(
      ctx, std::move(socket), kind == Pop3Listener::kPop3 ? "pop3" : "pop3s", refusal, ticket);
  if (!conn) co_return;
  Pop3Driver driver(ctx, conn, kind);
  co_await driver.run();
}

}  // namespace tegami::server
