// ServerSession, AUTHORIZATION state: greeting, USER/PASS, APOP, AUTH PLAIN,
// STLS, and the answers to the verification and maildrop actions.
// RFC 1939 §4 and §7, RFC 5034 §4 (SASL), RFC 4616 (PLAIN), RFC 2595 §4 (STLS),
// RFC 2449 §8 and RFC 3206 (response codes).
#include <fmt/format.h>

#include "core/base64.hpp"
#include "core/log.hpp"
#include "mail/sasl_plain.hpp"
#include "proto/pop3/server_session.hpp"

namespace tegami::pop3 {
namespace {

constexpr std::string_view kPlaintextRefused =
    "-ERR [AUTH] TLS required for plaintext authentication";

// RFC 1939 §7: the APOP digest is 16 octets in hex, 32 digits.
constexpr std::size_t kApopDigestLength = 32;

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Lower-cased digest, or nullopt when it is not 32 hex digits.
std::optional<std::string> normalise_digest(std::string_view digest) {
  if (digest.size() != kApopDigestLength) return std::nullopt;
  std::string out;
  out.reserve(digest.size());
  for (char c : digest) {
    if (c >= '0' && c <= '9') {
      out += c;
    } else if (c >= 'a' && c <= 'f') {
      out += c;
    } else if (c >= 'A' && c <= 'F') {
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// RFC 1939 §7 / RFC 1939 §3 unique-id rule: 1..70 octets in 0x21..0x7E.
bool valid_uid(std::string_view uid) {
  if (uid.empty() || uid.size() > kMaxUidLength) return false;
  for (unsigned char c : uid) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// A uid that breaks the rule is replaced by a stable digest of itself (FNV-1a),
// so it stays the same across sessions, which is what UIDL clients rely on.
std::string sanitise_uid(std::string uid) {
  if (valid_uid(uid)) return uid;
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : uid) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("x{:016x}", h);
}

std::string_view failure_reply(Failure failure) {
  switch (failure) {
    case Failure::BadCredentials:
      return "-ERR [AUTH] authentication failed";
    case Failure::InUse:
      return "-ERR [IN-USE] maildrop is locked by another session";
    case Failure::TempFailure:
      return "-ERR [SYS/TEMP] temporary failure, try again later";
    case Failure::TooManyFailures:
      return "-ERR [SYS/TEMP] too many failed logins from your network, try again later";
  }
  return "-ERR [SYS/TEMP] temporary failure, try again later";
}

}  // namespace

void ServerSession::on_connected(Actions& out) {
  if (greeted_) return;
  greeted_ = true;
  // RFC 1939 §4 greeting; §7: the APOP timestamp is its last token.
  std::string text = "+OK tegami POP3 ready";
  if (apop_) text += " " + config_.apop_timestamp;
  reply(out, std::move(text));
}

void ServerSession::cmd_user(const Command& cmd, Actions& out) {
  if (!plaintext_allowed_) return bad_command(out, kPlaintextRefused);
  // Always +OK, whether or not the user exists: no account enumeration.
  user_ = cmd.args[0];
  reply(out, "+OK send PASS");
}

void ServerSession::cmd_pass(const Command& cmd, Actions& out) {
  if (!plaintext_allowed_) return bad_command(out, kPlaintextRefused);
  if (!user_) return bad_command(out, "-ERR USER first");
  auth_user_ = std::move(*user_);
  user_.reset();
  auth_mechanism_ = Mechanism::UserPass;
  awaiting_ = Awaiting::Auth;
  out.emplace_back(VerifyUserPass{auth_user_, cmd.args[0]});
}

void ServerSession::cmd_apop(const Command& cmd, Actions& out) {
  if (!apop_) return bad_command(out, "-ERR APOP not available");
  // A malformed digest is refused at once: no verification, no delay.
  std::optional<std::string> digest = normalise_digest(cmd.args[1]);
  if (!digest) return bad_command(out, "-ERR invalid APOP digest");
  auth_user_ = cmd.args[0];
  auth_mechanism_ = Mechanism::Apop;
  awaiting_ = Awaiting::Auth;
  out.emplace_back(VerifyApop{auth_user_, config_.apop_timestamp, std::move(*digest)});
}

void ServerSession::cmd_auth(const Command& cmd, Actions& out) {
  if (cmd.args.empty()) {
    // Not in RFC 5034 but widely used (RFC 1734 era clients, Outlook): list
    // the mechanisms, as Dovecot and others do.
    std::string text = "+OK supported mechanisms follow\r\n";
    if (plaintext_allowed_) text += "PLAIN\r\n";
    text += ".\r\n";
    out.emplace_back(Reply{std::move(text)});
    return;
  }
  if (!equals_ignore_case(cmd.args[0], "PLAIN")) {
    return bad_command(out, "-ERR unsupported authentication mechanism");
  }
  if (!plaintext_allowed_) return bad_command(out, kPlaintextRefused);
  if (cmd.args.size() == 2) return plain_response(cmd.args[1], out);
  // RFC 5034 §4: an empty challenge, "+ " and CRLF.
  out.emplace_back(Reply{"+ \r\n"});
  parser_.set_mode(CommandParser::Mode::SaslResponse);
  enter_state(State::AwaitSaslResponse);
}

void ServerSession::on_sasl_line(const SaslLine& line, Actions& out) {
  parser_.set_mode(CommandParser::Mode::Command);
  if (state_ != State::AwaitSaslResponse) return bad_command(out, "-ERR unexpected response");
  enter_state(State::Authorization);
  // RFC 5034 §4: "*" cancels the exchange; the server answers -ERR.
  if (line.text == "*") return reply(out, "-ERR authentication cancelled");
  plain_response(line.text, out);
}

void ServerSession::plain_response(std::string_view encoded, Actions& out) {
  // RFC 5034 §4: "=" is a zero-length response.
  std::optional<std::string> decoded =
      encoded == "=" ? std::optional<std::string>(std::string{}) : base64_decode(encoded);
  if (!decoded) return bad_command(out, "-ERR invalid base64");
  std::optional<mail::PlainCredentials> creds = mail::parse_sasl_plain(*decoded);
  if (!creds) return bad_command(out, "-ERR invalid PLAIN response");
  auth_user_ = creds->authcid;
  auth_mechanism_ = Mechanism::SaslPlain;
  awaiting_ = Awaiting::Auth;
  out.emplace_back(VerifyPlain{std::move(creds->authzid), std::move(creds->authcid),
                               std::move(creds->password)});
}

void ServerSession::cmd_stls(Actions& out) {
  if (!stls_offered_) return bad_command(out, "-ERR STLS not available");
  reply(out, "+OK begin TLS negotiation");
  out.emplace_back(StartTls{});
  awaiting_ = Awaiting::Tls;
  // RFC 2595 §4 (and CVE-2011-0411): nothing received before the handshake
  // may be acted on after it.
  discard_input_ = true;
  pending_.clear();
  parser_.reset();
}

void ServerSession::on_tls_started(const TlsStarted& started, Actions& out) {
  if (!expect(Awaiting::Tls, "TlsStarted")) return;
  awaiting_ = Awaiting::Nothing;
  if (!started.ok) return close(out);
  discard_input_ = false;
  parser_.reset();
  user_.reset();
  stls_offered_ = false;
  plaintext_allowed_ = true;  // passwords are protected by TLS now
}

void ServerSession::on_auth_result(const AuthResult& result, Actions& out) {
  if (!expect(Awaiting::Auth, "AuthResult")) return;
  awaiting_ = Awaiting::Nothing;
  if (result.ok) {
    stats_.account = result.account;
    awaiting_ = Awaiting::Maildrop;
    out.emplace_back(OpenMaildrop{result.account});
    return;
  }
  if (result.failure == Failure::BadCredentials) {
    ++stats_.auth_failures;
    out.emplace_back(LoginFailed{auth_user_, auth_mechanism_});
    reply(out, std::string(failure_reply(result.failure)));
    if (stats_.auth_failures >= kMaxAuthFailures) close(out);
    return;
  }
  reply(out, std::string(failure_reply(result.failure)));
  if (result.failure == Failure::TooManyFailures) close(out);
}

void ServerSession::on_maildrop_opened(const MaildropOpened& opened, Actions& out) {
  if (!expect(Awaiting::Maildrop, "MaildropOpened")) return;
  awaiting_ = Awaiting::Nothing;
  if (!opened.ok) {
    stats_.account.clear();
    // A lock held elsewhere or storage trouble; the client may try again later.
    reply(out,
          std::string(failure_reply(opened.failure == Failure::BadCredentials ? Failure::TempFailure
                                                                              : opened.failure)));
    return;
  }
  messages_.clear();
  messages_.reserve(opened.messages.size());
  for (const auto& m : opened.messages) messages_.push_back({m.size, sanitise_uid(m.uid)});
  deleted_.assign(messages_.size(), false);
  retrieved_.assign(messages_.size(), false);
  stats_.mechanism = auth_mechanism_;
  stats_.messages = messages_.size();
  out.emplace_back(LoggedIn{stats_.account, auth_mechanism_});
  reply(out, "+OK maildrop has " + drop_summary());
  enter_state(State::Transaction);
}

}  // namespace tegami::pop3
