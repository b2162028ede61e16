#include "server/smtp_server.hpp"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/scram.hpp"
#include "auth/sealed.hpp"
#include "core/log.hpp"
#include "core/network_key.hpp"
#include "dkim/dkim_verifier.hpp"
#include "mail/ascii.hpp"
#include "mail/date.hpp"
#include "mail/header.hpp"
#include "mail/header_address.hpp"
#include "mail/received.hpp"
#include "net/session_stream.hpp"
#include "policy/relay_policy.hpp"
#include "policy/sender_policy.hpp"
#include "proto/smtp/server_session.hpp"
#include "server/admission.hpp"
#include "server/cleanup.hpp"
#include "server/credentials.hpp"
#include "server/disk_reserve.hpp"
#include "server/intake.hpp"
#include "server/outbound.hpp"
#include "server/reverse_dns.hpp"
#include "server/spf_check.hpp"
#include "server/spf_service.hpp"
#include "server/tls_handshake.hpp"

namespace tegami::server {

namespace {

// RFC 5321 §6.3 / issue 6: more Received: fields than this means a loop.
constexpr std::size_t kMaxReceivedFields = 50;
// Mailboxes of a submitted From: field checked against the account (each is
// a directory lookup); real messages name one, rarely a few.
constexpr std::size_t kMaxHeaderAuthors = 100;
constexpr std::size_t kReadChunk = 64 * 1024;
// Between messages a session reads commands into a small buffer; an idle
// connection then holds 4 KiB, not 64 (issue 16: memory per idle connection).
constexpr std::size_t kCommandChunk = 4 * 1024;
// CHECKLIST "Slow clients": the minimum DATA rate, in octets per second
// (Postfix's smtpd_min_data_rate default).
constexpr double kMinDataRate = 500;

const char* listener_name(SmtpListener kind) {
  switch (kind) {
    case SmtpListener::kSmtp:
      return "smtp";
    case SmtpListener::kSubmission:
      return "submission";
    case SmtpListener::kSubmissions:
      return "submissions";
  }
  return "?";
}

int local_utc_offset_minutes(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  return static_cast<int>(tm.tm_gmtoff / 60);
}

// The message of the current DATA, streaming through the cleanup stage
// (issue 13): what deliver() needs once the data has ended.
struct StreamedBody final : smtp::BodySink {
  std::string sid;
  std::string qid;
  // Relayed recipients, in the queue entry, with the NOTIFY and ORCPT of
  // the RCPT that named them (RFC 3461).
  std::vector<QueueRecipient> remote;
  // RCPTs with NOTIFY=SUCCESS delivered into a local mailbox: each gets a
  // "delivered" DSN once the message is stored (RFC 3461 §5.3).
  std::vector<QueueRecipient> delivered_notice;
  std::unique_ptr<Cleanup> cleanup;
  // DKIM signatures checked as the message streams by (issue 17; mail from
  // outside only); null: not checked.
  std::unique_ptr<dkim::DkimVerifier> dkim;
  void write(std::string_view crlf) override {
    if (dkim) dkim->feed(crlf);
    cleanup->write(crlf);
  }
  void abandon(std::string_view why) override {
    spdlog::info("smtp {} qid={} message given up after {} octets: partial files removed, {}", sid,
                 qid, cleanup->size(), why);
    cleanup->abandon();
  }
};

class SmtpDriver final : public smtp::BodySinkFactory {
 public:
  SmtpDriver(ServerContext& ctx, std::shared_ptr<Connection> conn, SmtpListener kind)
      : ctx_(ctx), conn_(std::move(conn)), kind_(kind) {}

  net::awaitable<void> run();
  // At DATA: the files of this message are created and the session streams
  // into them (null: cannot store now, 451).
  smtp::BodySink* open_body(const smtp::Envelope& env) override;

 private:
  mail::ReceivedStamp received_stamp(const smtp::Envelope& env, const std::string& qid);
  net::awaitable<smtp::Actions> deliver_streamed(smtp::Deliver& d);
  net::awaitable<smtp::Actions> check_sender(const smtp::CheckSender& a);
  net::awaitable<smtp::Actions> verify_auth(const smtp::VerifyAuth& a);
  // SCRAM-SHA-256: the driver keeps the exchange between the two steps.
  net::awaitable<smtp::Actions> scram_first(const smtp::ScramFirst& a);
  net::awaitable<smtp::Actions> scram_final(const smtp::ScramFinal& a);
  // Blocking (directory lookup, unsealing, PBKDF2): on the worker pool.
  // False on a temporary failure; else scram_ is set.
  bool prepare_scram(const scram::ClientFirst& first);
  // Before any password is checked (issue 14): false, logged, when the
  // client's network is over the AUTH failure limit ([auth] failure_limit,
  // checks in progress included); then refuse_locked() answers 421 and drops.
  bool begin_attempt(AuthThrottle::Attempt& attempt, std::string_view user,
                     std::string_view mechanism);
  smtp::Actions refuse_locked();
  // A failed AUTH: throttle (count, release `attempt`, delay), then 535, or
  // 421 at the limit.
  net::awaitable<smtp::Actions> auth_failed(const std::string& user, const std::string& secret,
                                            std::string_view mechanism,
                                            AuthThrottle::Attempt& attempt);
  net::awaitable<smtp::Actions> check_recipient(const smtp::CheckRecipient& a);
  // The header From: of a message whose sender-login match applies; a
  // refusal, or nothing when the author is owned by the account.
  std::optional<Error> check_header_from(const mail::MessageHeader& header, bool truncated,
                                         const std::string& account);
  net::awaitable<smtp::Actions> deliver(smtp::Deliver& d);
  // RFC 3461 §5.3: the "delivered" DSN for the local recipients that asked
  // for one (NOTIFY=SUCCESS), once the message is stored; a failure is
  // logged (the message itself is delivered).
  net::awaitable<void> notify_delivered(const smtp::Envelope& env, const StreamedBody& body);
  net::awaitable<smtp::Actions> start_tls();
  net::awaitable<bool> flush();

  ServerContext& ctx_;
  std::shared_ptr<Connection> conn_;
  SmtpListener kind_;
  std::string sid_;
  std::string ip_;
  std::string network_;  // the client network the TLS handshake share counts
  std::string rdns_;
  std::string out_;
  std::unique_ptr<smtp::ServerSession> sm_;
  std::optional<scram::ServerExchange> scram_;  // between ScramFirst and ScramFinal
  std::string scram_account_;                   // its account ("" when none may log in)
  AuthThrottle::Attempt scram_attempt_;         // its password check in progress
  bool trusted_ = false;                        // [relay] trusted_networks
  policy::SenderVerdict sender_{};              // the current transaction's MAIL FROM verdict
  // The current transaction's SPF result (issue 17) as Authentication-
  // Results: resinfo and Received-SPF: value; empty when not checked.
  std::string spf_resinfo_, received_spf_;
  // The client is "outside" (smtp listener, neither authenticated nor
  // trusted), and what SPF said of its MAIL FROM domain.
  bool outside_ = false;
  bool spf_pass_ = false;
  std::string mail_from_domain_;
  std::vector<std::string> dkim_pass_domains_;  // d= of the DKIM signatures that passed
  // Issue 17, our own domains: a From: in one of our local domains from
  // outside passes only with an SPF pass aligned with it (DMARC's relaxed
  // alignment within our own domain tree); a refusal otherwise.
  std::optional<Error> check_own_domains(const mail::MessageHeader& header);
  // SPF of the MAIL FROM identity, for a client on the smtp listener that is
  // neither authenticated (AUTH, POP-before-SMTP) nor trusted.
  net::awaitable<void> check_spf(const smtp::CheckSender& a);
  unsigned messages_ = 0;
  std::unique_ptr<StreamedBody> body_;  // from open_body() to deliver()
  bool data_started_ = false;
  std::chrono::steady_clock::time_point data_deadline_{};
};

net::awaitable<bool> SmtpDriver::flush() {
  return flush_replies(*conn_, out_);
}

net::awaitable<smtp::Actions> SmtpDriver::check_sender(const smtp::CheckSender& a) {
  const auto& cfg = ctx_.config;
  // Issue 15: no new mail while the disk is short of its reserve, whoever
  // the client is (bounces and queue updates need the room); checked
  // before any lookup, from a cached measurement (it never blocks).
  if (ctx_.disk_reserve != nullptr) {
    if (auto refusal = ctx_.disk_reserve->check_mail(a.declared_size)) {
      spdlog::info("smtp {} ip={} reject from={} size={} reply=\"{}\"", sid_, ip_,
                   log_safe(a.sender.to_path()),
                   a.declared_size ? std::to_string(*a.declared_size) : std::string("-"), *refusal);
      smtp::SenderChecked ev;
      ev.reply = *refusal;
      co_return sm_->step(ev);
    }
  }
  policy::SenderFacts facts;
  facts.ip = ip_;
  facts.submission = kind_ != SmtpListener::kSmtp;
  facts.trusted_network = trusted_;
  facts.auth_account = a.auth_account;
  facts.login_match = cfg.sender_login_match;
  const mail::Address& sender = a.sender;
  const std::string address =
      sender.null_path ? std::string() : sender.local_lower + "@" + sender.domain;
  auto gathered = co_await ctx_.workers.run([this, &facts, &address]() -> Result<void> {
    // The grant matters when AUTH did not happen and the network alone does
    // not authorise (always on submission).
    if (facts.auth_account.empty() && (facts.submission || !facts.trusted_network)) {
      auto g = ctx_.grants.find(ip_, ctx_.clock.now());
      if (!g) return fail(g.error());
      if (*g) facts.grant_account = (*g)->account;
    }
    if (address.empty()) return {};
    auto at = address.rfind('@');
    auto local = ctx_.directory.is_local_domain(address.substr(at + 1));
    if (!local) return fail(local.error());
    facts.sender_local = *local;
    if (facts.login_match && (!facts.auth_account.empty() || !facts.grant_account.empty())) {
      auto res = ctx_.directory.resolve(address);
      if (!res) return fail(res.error());
      facts.owned_by_auth = policy::owns(facts.auth_account, address, *res);
      facts.owned_by_grant = policy::owns(facts.grant_account, address, *res);
    }
    return {};
  });
  smtp::SenderChecked ev;
  if (!gathered) {
    spdlog::warn("smtp {} sender lookup failed: {}", sid_, gathered.error().message);
    ev.reply = "451 4.3.0 Temporary lookup failure";
    co_return sm_->step(ev);
  }
  sender_ = policy::decide_sender(sender, facts);
  ev.accepted = sender_.accepted;
  ev.reply = sender_.reply;
  spf_resinfo_.clear();
  received_spf_.clear();
  spf_pass_ = false;
  mail_from_domain_ = sender.null_path ? mail::to_lower(a.helo) : sender.domain;
  outside_ = kind_ == SmtpListener::kSmtp && !trusted_ && facts.auth_account.empty() &&
             facts.grant_account.empty();
  if (ev.accepted && ctx_.spf != nullptr && outside_) co_await check_spf(a);
  if (!ev.accepted) {
    spdlog::info("smtp {} ip={} reject from={} auth={} grant={} reply=\"{}\"", sid_, ip_,
                 log_safe(sender.to_path()), log_safe(facts.auth_account),
                 log_safe(facts.grant_account), log_safe(ev.reply));
  } else if (!facts.grant_account.empty() && sender_.client.pop_grant) {
    spdlog::info("smtp {} ip={} pop-before-smtp grant of {}", sid_, ip_,
                 log_safe(facts.grant_account));
  }
  co_return sm_->step(ev);
}

net::awaitable<void> SmtpDriver::check_spf(const smtp::CheckSender& a) {
  std::error_code bad;
  auto address = asio::ip::make_address(ip_, bad);
  if (bad) co_return;
  const auto query = mailauth::SpfQuery::mail_from(
      spf_address(address), a.sender.null_path ? std::string() : a.sender.to_string(), a.helo,
      ctx_.config.hostname,
      std::chrono::duration_cast<std::chrono::seconds>(ctx_.clock.now().time_since_epoch())
          .count());
  const auto outcome = co_await ctx_.spf->check(query);
  spf_pass_ = outcome.result == mailauth::SpfResult::kPass;
  spf_resinfo_ = mailauth::auth_results_spf(query, outcome);
  received_spf_ = mailauth::received_spf(query, outcome);
  spdlog::info(
      "smtp {} ip={} spf={} identity={} domain={}{}{}", sid_, ip_,
      mailauth::to_string(outcome.result), query.helo_identity ? "helo" : "mailfrom",
      log_safe(query.domain),
      outcome.mechanism.empty() ? std::string() : " mechanism=" + log_safe(outcome.mechanism),
      outcome.problem.empty() ? std::string()
                              : " problem=\"" + log_safe(outcome.problem, 200) + "\"");
}

bool SmtpDriver::begin_attempt(AuthThrottle::Attempt& attempt, std::string_view user,
                               std::string_view mechanism) {
  attempt = ctx_.throttle.begin(ip_);
  if (attempt) return true;
  spdlog::warn("smtp {} auth refused ip={} network={} user={} mechanism={}: too many failures",
               sid_, ip_, ctx_.throttle.network(ip_), log_safe(user), mechanism);
  return false;
}

smtp::Actions SmtpDriver::refuse_locked() {
  smtp::AuthChecked ev;
  ev.outcome = smtp::AuthChecked::Outcome::kTooManyFailures;
  return sm_->step(ev);
}

net::awaitable<smtp::Actions> SmtpDriver::verify_auth(const smtp::VerifyAuth& a) {
  smtp::AuthChecked ev;
  CredentialCheck check;
  // Issue 14: a network over the failure limit is refused before any
  // password is checked, so a right guess then is worth nothing.
  AuthThrottle::Attempt attempt;
  if (!begin_attempt(attempt, a.authcid, a.mechanism)) co_return refuse_locked();
  // PLAIN may name an authorization identity: only one's own (no proxy
  // authorization, RFC 4616 §2).
  if (!a.authzid.empty() && a.authzid != a.authcid) {
    check.kind = CredentialCheck::Kind::kBadCredentials;
  } else {
    check = co_await ctx_.hashing().run(
        [this, &a] { return check_password(ctx_, a.authcid, a.password); });
  }
  switch (check.kind) {
    case CredentialCheck::Kind::kOk:
      ctx_.throttle.success(ip_, a.authcid);
      attempt.release();
      ev.outcome = smtp::AuthChecked::Outcome::kOk;
      ev.account = check.account;
      co_return sm_->step(ev);
    case CredentialCheck::Kind::kTempFailure:
      spdlog::warn("smtp {} ip={} auth lookup failed for {}", sid_, ip_, log_safe(a.authcid));
      ev.outcome = smtp::AuthChecked::Outcome::kTempFailure;
      co_return sm_->step(ev);
    case CredentialCheck::Kind::kBadCredentials:
      break;
  }
  co_return co_await auth_failed(a.authcid, a.password, a.mechanism, attempt);
}

net::awaitable<smtp::Actions> SmtpDriver::auth_failed(const std::string& user,
                                                      const std::string& secret,
                                                      std::string_view mechanism,
                                                      AuthThrottle::Attempt& attempt) {
  // CHECKLIST: failures delayed per client network; the same wrong password
  // (or SCRAM proof) again is not counted again (AuthThrottle).
  auto delay = ctx_.throttle.failure(ip_, user, AuthThrottle::fingerprint(user, secret));
  attempt.release();  // counted as a failure now
  unsigned failures = ctx_.throttle.failures(ip_);
  spdlog::warn("smtp {} auth failed ip={} network={} user={} mechanism={} failures={} delay={}ms",
               sid_, ip_, ctx_.throttle.network(ip_), log_safe(user), mechanism, failures,
               delay.count());
  if (co_await flush()) {
    asio::steady_timer t(conn_->stream.executor(), delay);
    co_await t.async_wait(net::kNoThrow);
  }
  smtp::AuthChecked ev;
  ev.outcome = failures >= ctx_.throttle.settings().limit
                   ? smtp::AuthChecked::Outcome::kTooManyFailures
                   : smtp::AuthChecked::Outcome::kBadCredentials;
  co_return sm_->step(ev);
}

bool SmtpDriver::prepare_scram(const scram::ClientFirst& first) {
  // The salt is derived from the name (lower-cased) under the secret key, so
  // that an account sees the same salt at every login and a name that is no
  // account gets one of the same shape; no database change is needed.
  std::string name = first.username;
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  static constexpr std::string_view kNoKey = "tegami-scram-without-secret-key";
  const std::string_view key_material =
      ctx_.secret_key != nullptr
          ? std::string_view(reinterpret_cast<const char*>(ctx_.secret_key->data()),
                             SecretKey::size())
          : kNoKey;
  const std::string salt = scram::derive_salt(key_material, name);
  auto acct = ctx_.directory.find_account(first.username);
  if (!acct) return false;
  std::optional<scram::Keys> keys;
  std::string account;
  if (*acct && (*acct)->apop_sealed && ctx_.secret_key != nullptr) {
    // Only accounts whose password is recoverable (created with --apop):
    // SCRAM needs SaltedPassword, which a one-way hash cannot give.
    auto secret = sealed::open(*ctx_.secret_key, *(*acct)->apop_sealed, (*acct)->address);
    if (!secret) {
      spdlog::error("smtp {} cannot unseal the secret of {}: {}", sid_, (*acct)->address,
                    secret.error().message);
      return false;
    }
    keys = scram::derive_keys(*secret, salt, scram::kIterations);
    OPENSSL_cleanse(secret->data(), secret->size());
    account = (*acct)->address;
  } else {
    // The same cost, thrown away: timing does not tell who exists.
    (void)scram::derive_keys("tegami-scram-dummy", salt, scram::kIterations);
  }
  scram_.emplace(first, salt, scram::kIterations, keys, scram::make_server_nonce());
  scram_account_ = std::move(account);
  return true;
}

net::awaitable<smtp::Actions> SmtpDriver::scram_first(const smtp::ScramFirst& a) {
  smtp::AuthChecked ev;
  scram_.reset();
  scram_account_.clear();
  auto first = scram::parse_client_first(a.client_first);
  if (!first) {
    // Malformed, channel binding, someone else's authzid: 535 at once, as a
    // malformed PLAIN message (no password was tried).
    spdlog::info("smtp {} ip={} scram client-first refused: {}", sid_, ip_,
                 scram::to_string(first.error()));
    ev.outcome = smtp::AuthChecked::Outcome::kBadCredentials;
    co_return sm_->step(ev);
  }
  const scram::ClientFirst& cf = *first;
  // The check in progress lasts until the proof (scram_final).
  if (!begin_attempt(scram_attempt_, cf.username, scram::kMechanism)) co_return refuse_locked();
  const bool ok = co_await ctx_.hashing().run([this, &cf] { return prepare_scram(cf); });
  if (!ok) {
    spdlog::warn("smtp {} ip={} auth lookup failed for {}", sid_, ip_, log_safe(cf.username));
    ev.outcome = smtp::AuthChecked::Outcome::kTempFailure;
    co_return sm_->step(ev);
  }
  ev.outcome = smtp::AuthChecked::Outcome::kContinue;
  ev.challenge = scram_->server_first();
  co_return sm_->step(ev);
}

net::awaitable<smtp::Actions> SmtpDriver::scram_final(const smtp::ScramFinal& a) {
  smtp::AuthChecked ev;
  if (!scram_) {
    ev.outcome = smtp::AuthChecked::Outcome::kTempFailure;
    co_return sm_->step(ev);
  }
  // scram_attempt_ (taken at client-first) still counts towards the limit,
  // so the proof is checked within it.
  const std::string user = scram_->client_first().username;
  auto verdict = scram_->finish(a.client_final);
  const std::string account = std::move(scram_account_);
  scram_.reset();
  scram_account_.clear();
  if (verdict) {
    // The server signature goes out only after a valid proof.
    ctx_.throttle.success(ip_, user);
    scram_attempt_.release();
    ev.outcome = smtp::AuthChecked::Outcome::kContinue;
    ev.challenge = std::move(*verdict);
    ev.account = account;
    co_return sm_->step(ev);
  }
  spdlog::info("smtp {} ip={} scram client-final refused: {}", sid_, ip_,
               scram::to_string(verdict.error()));
  auto parsed = scram::parse_client_final(a.client_final);
  const std::string proof = parsed ? parsed->proof_b64 : a.client_final;
  co_return co_await auth_failed(user, proof, scram::kMechanism, scram_attempt_);
}

std::optional<Error> SmtpDriver::check_header_from(const mail::MessageHeader& header,
                                                   bool truncated, const std::string& account) {
  // Issue 14: the author is every mailbox of the one From: field (RFC 5322
  // §3.6: exactly one; §3.6.2: a mailbox-list, RFC 6854: groups too), and
  // the Sender: (at most one, one mailbox) when present. Each must belong to
  // the account; a field that cannot be read is refused, never guessed at.
  auto malformed = [&](std::string text, std::string_view why) -> std::optional<Error> {
    spdlog::info("smtp {} ip={} header refused ({}): {} (account {})", sid_, ip_, why, text,
                 log_safe(account));
    return Error::perm(std::move(text), 550, "5.6.0");
  };
  // Fields past the parser's bounds were not seen: a second From: could hide there.
  if (truncated || header.fields.size() >= mail::kMaxHeaderFields)
    return malformed("Message header section too large to check its From: field",
                     "header over the limits");
  const auto froms = header.find_all("From");
  if (froms.empty()) {
    spdlog::info("smtp {} ip={} no header From: (account {})", sid_, ip_, log_safe(account));
    return Error::perm("Message has no From: header field (RFC 5322 3.6): add your address", 550,
                       "5.6.0");
  }
  if (froms.size() > 1)
    return malformed(
        fmt::format("Message has {} From: header fields; RFC 5322 3.6 allows one", froms.size()),
        "several From:");
  auto authors = mail::parse_mailbox_list(froms.front()->value, true);
  if (!authors.error.empty())
    return malformed("Malformed From: header field (RFC 5322 3.4): " + authors.error,
                     log_safe(froms.front()->value, 200));
  if (authors.addresses.empty())
    return malformed("From: header field names no mailbox (RFC 5322 3.6.2): add your address",
                     "empty From:");
  if (authors.addresses.size() > kMaxHeaderAuthors)
    return malformed("Too many addresses in the From: header field", "long From:");
  struct Check {
    std::string address;
    std::string_view field;
  };
  std::vector<Check> checks;
  for (auto& a : authors.addresses) checks.push_back({std::move(a), "From:"});
  const auto senders = header.find_all("Sender");
  if (senders.size() > 1)
    return malformed(fmt::format("Message has {} Sender: header fields; RFC 5322 3.6 allows one",
                                 senders.size()),
                     "several Sender:");
  if (senders.size() == 1) {
    auto s = mail::parse_mailbox_list(senders.front()->value, false);
    if (!s.error.empty() || s.addresses.size() != 1)
      return malformed("Malformed Sender: header field (RFC 5322 3.6.2: one mailbox)" +
                           (s.error.empty() ? std::string() : ": " + s.error),
                       log_safe(senders.front()->value, 200));
    checks.push_back({std::move(s.addresses.front()), "Sender:"});
  }
  for (auto& [address, field] : checks) {
    for (auto& ch : address) ch = mail::ascii_lower(ch);
    Resolution res;
    if (address != account) {
      auto r = ctx_.directory.resolve(address);
      if (!r) return Error::temp("Temporary lookup failure", 451, "4.3.0");
      res = *r;
    }
    if (policy::owns(account, address, res)) continue;
    spdlog::info("smtp {} ip={} header {} <{}> not owned by {}", sid_, ip_, field,
                 log_safe(address), log_safe(account));
    return Error::perm(
        "<" + address + ">: header " + std::string(field) + " address not owned by you", 553,
        "5.7.1");
  }
  return std::nullopt;
}

std::optional<Error> SmtpDriver::check_own_domains(const mail::MessageHeader& header) {
  std::vector<std::string> domains;
  for (const auto* f : header.find_all("From")) {
    auto list = mail::parse_mailbox_list(f->value, true);
    for (const auto& a : list.addresses) {
      auto at = a.rfind('@');
      if (at != std::string::npos) domains.push_back(a.substr(at + 1));
    }
  }
  for (const auto& d : domains) {
    auto local = ctx_.directory.is_local_domain(d);
    if (!local) return Error::temp("Temporary lookup failure", 451, "4.3.0");
    if (!*local) continue;
    // Relaxed alignment (RFC 7489 §3.1.2) within our own domain tree: the
    // same domain, or one a subdomain of the other.
    auto aligned = [&d](const std::string& m) {
      return m == d || (m.size() > d.size() && m.ends_with("." + d)) ||
             (d.size() > m.size() && d.ends_with("." + m));
    };
    const std::string& m = mail_from_domain_;
    if (spf_pass_ && aligned(m)) continue;
    // A valid DKIM signature of our domain (a message of ours that a list
    // or a forwarder passed on) aligns too (RFC 7489 §3.1.1).
    if (std::any_of(dkim_pass_domains_.begin(), dkim_pass_domains_.end(), aligned)) continue;
    const bool reject = ctx_.config.dmarc_own_domains == "reject";
    spdlog::info("smtp {} ip={} {} From: {} is our domain, spf={} mailfrom={}, no aligned dkim",
                 sid_, ip_, reject ? "refused:" : "report:", log_safe(d),
                 spf_pass_ ? "pass" : "not pass", log_safe(m));
    if (reject)
      return Error::perm("Message claims to be from " + d +
                             ", one of our domains, but was not sent by an authenticated user or "
                             "an authorised server (DMARC, RFC 7489)",
                         550, "5.7.1");
  }
  return std::nullopt;
}

net::awaitable<smtp::Actions> SmtpDriver::check_recipient(const smtp::CheckRecipient& a) {
  smtp::RecipientChecked ev;
  policy::RcptVerdict verdict;
  if (!policy::refuse_without_lookup(a.recipient, verdict)) {
    std::string address = a.recipient.local_lower + "@" + a.recipient.domain;
    const bool bare_postmaster = a.recipient.domain.empty();
    const bool postmaster = a.recipient.local_lower == "postmaster";
    auto res = co_await ctx_.workers.run(
        [this, &a, &address, bare_postmaster, postmaster]() -> Result<Resolution> {
          Result<Resolution> own = Resolution{Resolution::Kind::Unknown, {}};
          if (!bare_postmaster) {
            own = ctx_.directory.resolve(address);
            if (!postmaster || !own || own->kind == Resolution::Kind::Local) return own;
          }
          // RFC 5321 §4.5.1: postmaster MUST be accepted at every domain we take
          // mail for, and a bare <Postmaster> too. An account or alias of that
          // name wins; else the configured `postmaster` account receives it,
          // for each local domain and for this host's name.
          const std::string& host = ctx_.config.hostname;
          bool ours = bare_postmaster || mail::iequals(a.recipient.domain, host);
          if (!ours) {
            auto local = ctx_.directory.is_local_domain(a.recipient.domain);
            if (!local) return fail(local.error());
            ours = *local;
          }
          if (ours && !ctx_.config.postmaster.empty()) {
            auto r = ctx_.directory.resolve(ctx_.config.postmaster);
            if (!r || r->kind == Resolution::Kind::Local) return r;
            spdlog::warn("postmaster = \"{}\" is no local account or alias",
                         log_safe(ctx_.config.postmaster));
          }
          if (!bare_postmaster) return own;
          // A bare <Postmaster> without a configured account: the postmaster of
          // this host's name if that is a local domain, else of the first local
          // domain that has one.
          auto r = ctx_.directory.resolve("postmaster@" + host);
          if (!r || r->kind == Resolution::Kind::Local) return r;
          auto domains = ctx_.directory.list_domains();
          if (!domains) return fail(domains.error());
          for (const auto& d : *domains) {
            auto rd = ctx_.directory.resolve("postmaster@" + d);
            if (!rd || rd->kind == Resolution::Kind::Local) return rd;
          }
          return Resolution{Resolution::Kind::Unknown, {}};
        });
    if (!res) {
      spdlog::warn("smtp {} directory lookup failed: {}", sid_, res.error().message);
      ev.accepted = false;
      ev.reply = "451 4.3.0 " + a.recipient.to_path() + ": Temporary lookup failure";
      co_return sm_->step(ev);
    }
    verdict = policy::decide_rcpt(a.recipient, *res, sender_.client);
  }
  ev.accepted = verdict.kind != policy::RcptVerdict::Kind::Refuse;
  ev.reply = verdict.reply;
  for (const auto& m : verdict.mailboxes)
    ev.resolved.push_back(smtp::Destination::mailbox(m.domain, m.local));
  // Relayed: the outbound queue gets it.
  if (verdict.kind == policy::RcptVerdict::Kind::Relay)
    ev.resolved.push_back(smtp::Destination::remote(a.recipient.to_string()));
  // BODY=BINARYMIME is kept local (docs/smtp.md, CHUNKING): the queue and
  // the relay client carry text only, so such a message cannot leave as sent.
  if (ev.accepted && a.binary_mime &&
      std::any_of(ev.resolved.begin(), ev.resolved.end(),
                  [](const smtp::Destination& k) { return k.is_remote(); })) {
    ev.accepted = false;
    ev.resolved.clear();
    ev.reply = "554 5.6.3 " + a.recipient.to_path() +
               ": BODY=BINARYMIME mail is accepted for local mailboxes only";
  }
  if (!ev.accepted) {
    spdlog::info("smtp {} ip={} reject rcpt={} from={} reply=\"{}\"", sid_, ip_,
                 log_safe(a.recipient.to_path()), log_safe(a.sender.to_path()), log_safe(ev.reply));
  }
  co_return sm_->step(ev);
}

// g++ 12 warns that the coroutine frame's operator delete does not match its
// allocation in this function (-Wmismatched-new-delete): the same false
// positive as in delivery_agent.cpp (GCC PR 109224 family), silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
mail::ReceivedStamp SmtpDriver::received_stamp(const smtp::Envelope& env, const std::string& qid) {
  mail::ReceivedStamp stamp;
  stamp.helo = env.helo;
  stamp.rdns = rdns_;
  stamp.ip = ip_;
  stamp.by_host = ctx_.config.hostname;
  stamp.protocol = std::string(smtp::received_protocol(env));
  if (env.tls) stamp.tls_info = env.tls->protocol + " with cipher " + env.tls->cipher;
  stamp.id = qid;
  if (env.recipients.size() == 1) stamp.for_addr = env.recipients[0].address.to_string();
  if (ctx_.config.authenticated_header) stamp.authenticated = env.auth_account;
  stamp.time = ctx_.clock.now();
  stamp.offset_minutes = local_utc_offset_minutes(stamp.time);
  return stamp;
}

smtp::BodySink* SmtpDriver::open_body(const smtp::Envelope& env) {
  body_.reset();  // an earlier DATA that never ended: its files go
  auto b = std::make_unique<StreamedBody>();
  b->sid = sid_;
  b->qid = ctx_.queue_ids.next();
  // Each mailbox and address once; an address keeps the DSN parameters of
  // the first RCPT that named it.
  std::map<smtp::Destination, const smtp::EnvelopeRecipient*> destinations;
  for (const auto& r : env.recipients) {
    bool local = false;
    for (const auto& k : r.resolved) {
      destinations.emplace(k, &r);
      local = local || !k.is_remote();
    }
    // RFC 3461 §5.3: success notices for local mailboxes; never to <>.
    if (local && r.params.notify.success() && !env.mail_from.null_path) {
      QueueRecipient n;
      n.address = r.address.to_string();
      n.notify = r.params.notify;
      n.orcpt = r.params.orcpt;
      n.status = RecipientStatus::kDelivered;
      n.status_code = "2.0.0";
      b->delivered_notice.push_back(std::move(n));
    }
  }
  std::vector<MailboxRef> boxes;
  for (const auto& [k, from] : destinations) {
    if (k.is_remote()) {
      QueueRecipient q;
      q.address = k.address;
      q.notify = from->params.notify;
      q.orcpt = from->params.orcpt;
      b->remote.push_back(std::move(q));
    } else {
      boxes.push_back(MailboxRef{k.domain, k.local});
    }
  }
  const auto stamp = received_stamp(env, b->qid);
  CleanupSettings s;
  s.keep_header = !b->delivered_notice.empty();
  s.return_path = env.mail_from.to_path();
  s.received = mail::format_received(stamp);
  // RFC 8601 §5: our authserv-id is the host name; fields claiming it that
  // came with the message are removed, except from trusted networks (our
  // own relays, which may have added them).
  s.authserv_id = ctx_.config.hostname;
  s.strip_own_auth_results = !trusted_;
  if (!spf_resinfo_.empty()) {
    s.auth_results = ctx_.config.hostname + ";\r\n\t" + spf_resinfo_;
    s.received_spf = received_spf_;
  }
  // RFC 6409 §8.2-8.3: a submission server may add a missing Date: and
  // Message-ID: (big mailbox providers refuse mail without a Message-ID).
  // Only on the submission listeners: mail relayed to us or arriving at the
  // MX is passed on as it came.
  if (kind_ != SmtpListener::kSmtp) {
    s.add_missing_fields = true;
    s.date = mail::format_rfc5322_date(stamp.time, stamp.offset_minutes);
    unsigned char rnd[8];
    std::string tag;
    if (RAND_bytes(rnd, sizeof rnd) == 1) {
      tag = ".";
      for (unsigned char c : rnd) tag += fmt::format("{:02x}", c);
    }
    s.message_id = "<" + b->qid + tag + "@" + ctx_.config.hostname + ">";
  }
  // Creating the files is quick (open with O_EXCL; mkdir for a mailbox's
  // first mail); the writes, fsyncs and links come later.
  std::unique_ptr<MailboxDelivery> local;
  if (!boxes.empty()) {
    auto d = ctx_.mailboxes.begin_delivery(boxes);
    if (!d) {
      spdlog::error("smtp {} qid={} cannot store: {}", sid_, b->qid, d.error().message);
      return nullptr;
    }
    local = std::move(*d);
  }
  std::unique_ptr<QueueMessageWriter> queued;
  if (!b->remote.empty()) {
    if (ctx_.outbound == nullptr) {
      spdlog::error("smtp {} qid={} cannot queue: the outbound queue is not running", sid_, b->qid);
      return nullptr;
    }
    auto w = ctx_.outbound->store().begin(b->qid);
    if (!w) {
      spdlog::error("smtp {} qid={} cannot queue: {}", sid_, b->qid, w.error().message);
      return nullptr;
    }
    queued = std::move(*w);
  }
  if (outside_ && ctx_.spf != nullptr) {
    dkim::DkimVerifyOptions o;
    o.now = std::chrono::duration_cast<std::chrono::seconds>(ctx_.clock.now().time_since_epoch())
                .count();
    b->dkim = std::make_unique<dkim::DkimVerifier>(o);
  }
  b->cleanup = std::make_unique<Cleanup>(std::move(s), std::move(local), std::move(queued));
  body_ = std::move(b);
  return body_.get();
}

net::awaitable<smtp::Actions> SmtpDriver::deliver_streamed(smtp::Deliver& d) {
  auto& env = d.envelope;
  auto body = std::move(body_);
  const std::string qid = body->qid;
  Cleanup& c = *body->cleanup;
  std::string rcpts;
  for (const auto& r : env.recipients) {
    if (!rcpts.empty()) rcpts += ",";
    rcpts += r.address.to_path();
  }
  smtp::DeliveryDone done;
  std::optional<Error> refusal;
  if (auto ended = c.end(); !ended) {
    spdlog::error("smtp {} qid={} delivery failed: {}", sid_, qid, ended.error().message);
    refusal = Error::temp("Error: queue file write error", 451, "4.3.0");
  } else if (!sender_.login_account.empty() &&
             (c.has_remote() || !sender_.login_check_relay_only)) {
    const std::string& account = sender_.login_account;
    refusal = co_await ctx_.workers.run([this, &c, &account] {
      return check_header_from(c.header(), c.header_truncated(), account);
    });
  }
  dkim_pass_domains_.clear();
  if (!refusal && body->dkim) {
    body->dkim->finish();
    co_await ctx_.spf->dkim_keys(*body->dkim);
    for (const auto& r : body->dkim->results()) {
      if (r.result == mailauth::DkimResult::kPass)
        dkim_pass_domains_.push_back(mail::to_lower(r.domain));
      spdlog::info("smtp {} ip={} qid={} dkim={} d={} s={}{}", sid_, ip_, qid,
                   mailauth::to_string(r.result), log_safe(r.domain), log_safe(r.selector),
                   r.reason.empty() ? std::string() : " (" + log_safe(r.reason, 200) + ")");
    }
  }
  if (!refusal && outside_) {
    refusal = co_await ctx_.workers.run([this, &c] { return check_own_domains(c.header()); });
  }
  if (!refusal && c.received_count() > kMaxReceivedFields)
    refusal = Error::perm("Too many hops (mail loop?)", 554, "5.4.6");
  if (refusal) {
    done.queue_id = fail(*refusal);  // `body` goes out of scope: its files are removed
  } else {
    QueueEntry entry;
    entry.id = qid;
    entry.sender = env.mail_from.to_string();
    entry.smtputf8 = env.smtputf8;
    entry.ret = env.dsn_ret;
    entry.envid = env.dsn_envid;
    entry.recipients = body->remote;
    auto r = co_await ctx_.workers.run(
        [this, &c, &entry] { return commit_message(ctx_, c, std::move(entry)); });
    if (r) {
      if (!body->remote.empty()) ctx_.outbound->submit(qid);
      if (!body->delivered_notice.empty()) co_await notify_delivered(env, *body);
      done.queue_id = qid;
      if (!c.added().empty())
        spdlog::info("smtp {} ip={} qid={} added {}", sid_, ip_, qid, c.added());
      if (c.stripped_auth_results() > 0)
        spdlog::info(
            "smtp {} ip={} qid={} removed {} Authentication-Results claiming our authserv-id", sid_,
            ip_, qid, c.stripped_auth_results());
    } else {
      spdlog::error("smtp {} qid={} delivery failed: {}", sid_, qid, r.error().message);
      done.queue_id = fail(Error::temp("Error: queue file write error", 451, "4.3.0"));
    }
  }
  ++messages_;
  spdlog::info("smtp {} ip={} qid={} from={} to={} size={}{} result={}", sid_, ip_, qid,
               log_safe(env.mail_from.to_path()), log_safe(rcpts, 2000), c.size(),
               env.auth_account.empty() ? std::string() : " account=" + log_safe(env.auth_account),
               done.queue_id ? "delivered"
                             : fmt::format("{} {}", done.queue_id.error().smtp_code,
                                           done.queue_id.error().message));
  co_return sm_->step(done);
}

net::awaitable<void> SmtpDriver::notify_delivered(const smtp::Envelope& env,
                                                  const StreamedBody& body) {
  Bouncer* bouncer = ctx_.outbound != nullptr ? ctx_.outbound->bouncer() : nullptr;
  if (bouncer == nullptr) {
    spdlog::warn("smtp {} qid={} no success notice: the outbound queue is not running", sid_,
                 body.qid);
    co_return;
  }
  QueueEntry about;
  about.id = body.qid;
  about.sender = env.mail_from.to_string();
  about.created = ctx_.clock.now();
  about.ret = env.dsn_ret;
  about.envid = env.dsn_envid;
  about.recipients = body.delivered_notice;
  std::vector<std::size_t> all;
  for (std::size_t i = 0; i < about.recipients.size(); ++i) {
    about.recipients[i].last_attempt = about.created;
    all.push_back(i);
  }
  auto sent = co_await bouncer->send(about, all, mail::DsnAction::kDelivered,
                                     body.cleanup->stored_header());
  if (!sent) {
    spdlog::error("smtp {} qid={} cannot send the success notice: {}", sid_, body.qid,
                  sent.error().message);
  } else if (!sent->empty()) {
    ctx_.outbound->submit(*sent);
  }
}

net::awaitable<smtp::Actions> SmtpDriver::deliver(smtp::Deliver& d) {
  if (d.envelope.streamed && body_) co_return co_await deliver_streamed(d);
  // Not reached: this driver gives every DATA and BDAT a sink (open_body),
  // and without one the session refuses the message before its data.
  spdlog::error("smtp {} message without its stored copy: refused", sid_);
  smtp::DeliveryDone done;
  done.queue_id = fail(Error::temp("Error: queue file write error", 451, "4.3.0"));
  co_return sm_->step(done);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

net::awaitable<smtp::Actions> SmtpDriver::start_tls() {
  // The 220 must reach the client before the handshake starts.
  smtp::TlsStarted ev;
  if (!co_await flush()) co_return sm_->step(ev);
  auto& stream = conn_->stream;
  if (ctx_.tls != nullptr) {
    std::string log_id = "smtp " + sid_;
    auto r = co_await server_handshake(*ctx_.tls, stream, log_id, network_);
    if (r == HandshakeResult::kOk) {
      ev.ok = true;
      ev.protocol = stream.tls_protocol();
      ev.cipher = stream.tls_cipher();
    }
  }
  co_return sm_->step(ev);
}

net::awaitable<void> SmtpDriver::run() {
  auto& stream = conn_->stream;
  ip_ = stream.remote_ip();
  network_ = network_key(ip_, ctx_.config.connections_ipv6_prefix);
  sid_ = ctx_.new_session_id('S');
  const auto& cfg = ctx_.config;

  // RFC 8314 §3: on submissions the handshake comes before anything else.
  if (kind_ == SmtpListener::kSubmissions &&
      !co_await start_implicit_tls(ctx_, *conn_, "smtp " + sid_, network_))
    co_return;

  if (ctx_.reverse_dns != nullptr) rdns_ = co_await ctx_.reverse_dns->lookup(ip_);
  spdlog::info("smtp {} connect ip={} rdns={} port={} listener={}{}", sid_, ip_,
               rdns_.empty() ? "unknown" : rdns_, stream.local_port(), listener_name(kind_),
               stream.is_tls() ? " tls=" + stream.tls_protocol() : std::string());

  smtp::SessionConfig sc;
  sc.hostname = cfg.hostname;
  sc.max_message_size = cfg.message_size;
  sc.max_recipients = cfg.recipients;
  sc.junk_command_limit = cfg.junk_commands;
  sc.submission = kind_ != SmtpListener::kSmtp;
  sc.offer_starttls = ctx_.tls != nullptr && !stream.is_tls();
  // RFC 4954 on the submission ports (RFC 6409, RFC 8314); port 25 is for
  // other servers, which do not authenticate.
  sc.offer_auth = kind_ != SmtpListener::kSmtp;
  sc.offer_scram = cfg.auth_scram;
  sc.plaintext_auth = in_networks(cfg.plaintext_networks, ip_);
  trusted_ = in_networks(cfg.trusted_networks, ip_);
  sc.bare_lf_ends_line = !cfg.bare_newline_strict || in_networks(cfg.bare_newline_exempt, ip_);
  if (stream.is_tls()) sc.tls = smtp::TlsInfo{stream.tls_protocol(), stream.tls_cipher()};
  sc.session_id = sid_;
  sc.client_ip = ip_;
  sc.client_rdns = rdns_;
  sc.body_sinks = this;
  sm_ = std::make_unique<smtp::ServerSession>(sc);

  // An early talker (bytes before our greeting) is a spam bot or a
  // desynchronised client: the machine answers 554 5.5.0.
  // With [limits] pregreet_wait the greeting waits that long for one (as
  // postscreen does); by default we only look at what has already arrived.
  std::string pregreet;
  if (cfg.pregreet_wait.count() > 0 && !stream.is_tls() && stream.available() == 0)
    co_await stream.wait_readable(cfg.pregreet_wait);
  if (stream.available() > 0) {
    pregreet.resize(kReadChunk);
    auto [ec, n] = co_await stream.read_some(pregreet.data(), pregreet.size());
    pregreet.resize(ec ? 0 : n);
  }

  std::deque<smtp::Action> queue;
  auto push = [&queue](smtp::Actions a) {
    for (auto& x : a) queue.push_back(std::move(x));
  };
  push(sm_->step(smtp::Connected{pregreet}));

  std::string buf(kCommandChunk, '\0');
  // Performs the queued actions; false when the session ends (Close, or the
  // client is gone).
  auto perform = [&]() -> net::awaitable<bool> {
    while (!queue.empty()) {
      auto action = std::move(queue.front());
      queue.pop_front();
      if (auto* r = std::get_if<smtp::Reply>(&action)) {
        out_ += r->text;
      } else if (auto* d = std::get_if<smtp::Delay>(&action)) {
        if (!co_await flush()) co_return false;
        asio::steady_timer t(stream.executor(), d->duration);
        co_await t.async_wait(net::kNoThrow);
      } else if (auto* cs = std::get_if<smtp::CheckSender>(&action)) {
        push(co_await check_sender(*cs));
      } else if (auto* va = std::get_if<smtp::VerifyAuth>(&action)) {
        push(co_await verify_auth(*va));
      } else if (auto* sf = std::get_if<smtp::ScramFirst>(&action)) {
        push(co_await scram_first(*sf));
      } else if (auto* sl = std::get_if<smtp::ScramFinal>(&action)) {
        push(co_await scram_final(*sl));
      } else if (auto* c = std::get_if<smtp::CheckRecipient>(&action)) {
        push(co_await check_recipient(*c));
      } else if (auto* v = std::get_if<smtp::Deliver>(&action)) {
        push(co_await deliver(*v));
      } else if (std::get_if<smtp::StartTls>(&action)) {
        push(co_await start_tls());
      } else if (std::get_if<smtp::Close>(&action)) {
        co_await write_final(*conn_, out_);
        co_return false;
      }
    }
    co_return true;
  };
  // Nothing to read and nothing to do once the machine is closed.
  while (co_await perform() && sm_->wants_input()) {
    // A BDAT chunk (RFC 3030) is message data too: same deadline rules.
    bool in_data = sm_->state() == smtp::State::kData || sm_->state() == smtp::State::kBdat;
    // DATA has a deadline for the whole message that each read extends by
    // what it brought at kMinDataRate, never beyond data_timeout from now: a
    // client trickling a byte per read cannot hold the session for ever.
    const auto now = std::chrono::steady_clock::now();
    if (in_data && !data_started_) data_deadline_ = now + cfg.data_timeout;
    data_started_ = in_data;
    const auto timeout =
        in_data ? std::chrono::steady_clock::duration(data_deadline_ - now)
                : std::chrono::steady_clock::duration(command_wait(ctx_, cfg.command_timeout));
    // The big buffer only while message data flows; given back after it.
    if (const std::size_t want = in_data ? kReadChunk : kCommandChunk; buf.size() != want)
      std::string(want, '\0').swap(buf);
    const ReadResult got = co_await read_client(*conn_, out_, buf, timeout, !in_data);
    if (got.outcome == ReadOutcome::kData) {
      if (in_data) {
        auto credit = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(static_cast<double>(got.size) / kMinDataRate));
        data_deadline_ =
            std::min(std::chrono::steady_clock::now() + cfg.data_timeout, data_deadline_ + credit);
      }
      push(sm_->step(smtp::Input{std::string_view(buf.data(), got.size)}));
    } else if (got.outcome == ReadOutcome::kTimedOut) {
      spdlog::info("smtp {} ip={} timeout in state {}", sid_, ip_, smtp::to_string(sm_->state()));
      push(sm_->step(smtp::Timeout{}));
    } else if (got.outcome == ReadOutcome::kStopped) {
      push(sm_->step(smtp::Shutdown{}));
    } else {
      sm_->step(smtp::PeerClosed{});
      break;
    }
  }
  co_await close_session(*conn_);
  spdlog::info("smtp {} disconnect ip={} messages={} errors={}{}", sid_, ip_, messages_,
               sm_->errors(), stream.is_tls() ? " tls=yes" : "");
}

}  // namespace

net::awaitable<void> run_smtp_session(ServerContext& ctx, net::tcp::socket socket,
                                      SmtpListener kind) {
  net::ConnectionRegistry::Ticket ticket;
  // A named std::function, not a temporary inside the co_await expression
  // (g++ 12, PR 100611).
  std::function<std::string(net::ConnectionRegistry::Admit)> refusal =
      [kind](net::ConnectionRegistry::Admit admit) -> std::string {
    // On submissions the client expects a TLS handshake, not clear text.
    if (kind == SmtpListener::kSubmissions) return {};
    switch (admit) {
      case net::ConnectionRegistry::Admit::TooManyFromNetwork:
        return "421 4.7.0 Too many connections from your network\r\n";
      case net::ConnectionRegistry::Admit::Stopping:
        return "421 4.3.2 Service shutting down\r\n";
      default:
        return "421 4.3.2 Too many connections, try again later\r\n";
    }
  };
  auto conn =
      co_await admit_connection(ctx, std::move(socket), listener_name(kind), refusal, ticket);
  if (!conn) co_return;
  SmtpDriver driver(ctx, conn, kind);
  co_await driver.run();
}

}  // namespace tegami::server
