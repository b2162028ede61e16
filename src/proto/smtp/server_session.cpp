// ServerSession: events, the input loop and the helpers shared by the verbs
// (the verbs themselves are in session_commands.cpp, DESIGN rule 10).
#include "proto/smtp/server_session.hpp"

#include <fmt/format.h>

#include "core/base64.hpp"
#include "core/log.hpp"
#include "core/overloaded.hpp"
#include "proto/smtp/reply.hpp"

namespace tegami::smtp {

namespace {

// Issue 14 (Postfix's junk commands): verbs that keep a session alive without
// moving a transaction on. Erroneous commands count too (process()).
bool is_junk_verb(Verb verb) {
  switch (verb) {
    case Verb::kNoop:
    case Verb::kVrfy:
    case Verb::kRset:
    case Verb::kHelp:
    case Verb::kExpn:
    case Verb::kUnknown:
      return true;
    default:
      return false;
  }
}

}  // namespace

ServerSession::ServerSession(SessionConfig config)
    : config_(std::move(config)), parser_(config_.bare_lf_ends_line), tls_(config_.tls) {}

std::string_view received_protocol(const Envelope& envelope) {
  // RFC 3848 registers ESMTPS (ESMTP + TLS); a HELO client stays "SMTP" and
  // the TLS comment of the Received: field still records the encryption.
  if (!envelope.esmtp) return "SMTP";
  // RFC 6531 §3.7.3: UTF8SMTP, UTF8SMTPA, UTF8SMTPS, UTF8SMTPSA for a
  // transaction with the SMTPUTF8 parameter (which needs EHLO).
  if (envelope.smtputf8) {
    if (!envelope.auth_account.empty()) return envelope.tls ? "UTF8SMTPSA" : "UTF8SMTPA";
    return envelope.tls ? "UTF8SMTPS" : "UTF8SMTP";
  }
  if (!envelope.auth_account.empty()) return envelope.tls ? "ESMTPSA" : "ESMTPA";
  return envelope.tls ? "ESMTPS" : "ESMTP";
}

void ServerSession::fill_envelope(Envelope& env) const {
  env.helo = helo_;
  env.esmtp = esmtp_;
  env.eight_bit_mime = tx_.params.body == mail::BodyType::k8BitMime;
  env.binary_mime = tx_.params.body == mail::BodyType::kBinaryMime;
  env.declared_size = tx_.params.size;
  env.smtputf8 = tx_.params.smtputf8;
  env.dsn_ret = tx_.params.ret;
  env.dsn_envid = tx_.params.envid.value_or(std::string());
  env.tls = tls_;
  env.auth_account = account_;
}

Envelope ServerSession::envelope_without_body() const {
  Envelope env;
  fill_envelope(env);
  env.mail_from = tx_.sender;
  env.recipients = tx_.recipients;
  return env;
}

Deliver ServerSession::take_delivery() {
  Deliver d;
  fill_envelope(d.envelope);
  d.envelope.mail_from = std::move(tx_.sender);
  d.envelope.recipients = std::move(tx_.recipients);
  return d;
}

bool ServerSession::wants_input() const {
  return kCommandStates.contains(state_) || state_ == State::kData ||
         state_ == State::kAuthenticating || state_ == State::kBdat;
}

Actions ServerSession::step(const Event& event) {
  Actions out;
  if (state_ == State::kClosed) return out;
  std::visit(Overloaded{
                 [&](const Connected& e) { on_connected(e, out); },
                 [&](const Input& e) { on_input(e, out); },
                 [&](const SenderChecked& e) { on_sender_checked(e, out); },
                 [&](const RecipientChecked& e) { on_recipient_checked(e, out); },
                 [&](const AuthChecked& e) { on_auth_checked(e, out); },
                 [&](const DeliveryDone& e) { on_delivery_done(e, out); },
                 [&](const Timeout&) { on_timeout(out); },
                 [&](const PeerClosed&) {
                   spdlog::info("smtp session {} client={} disconnected in state {}",
                                config_.session_id, config_.client_ip, to_string(state_));
                   data_.reset();
                   bdat_.reset();
                   pending_.clear();
                   enter_state(State::kClosed);
                 },
                 [&](const Shutdown&) { on_shutdown(out); },
                 [&](const TlsStarted& e) { on_tls_started(e, out); },
             },
             event);
  return out;
}

void ServerSession::enter_state(State next) {
  if (next == state_) return;
  spdlog::debug("smtp session {} {} -> {}", config_.session_id, to_string(state_), to_string(next));
  state_ = next;
}

void ServerSession::reply(Actions& out, std::string text, bool is_error) {
  if (errors_ >= config_.error_delay_after) out.emplace_back(Delay{config_.error_delay});
  out.emplace_back(Reply{std::move(text)});
  if (is_error) ++errors_;
}

void ServerSession::close(Actions& out) {
  out.emplace_back(Close{});
  data_.reset();
  bdat_.reset();
  pending_.clear();
  input_ = {};
  enter_state(State::kClosed);
}

void ServerSession::drop(Actions& out, std::string text, std::string_view why) {
  spdlog::info("smtp session {} client={} drop: {}", config_.session_id, config_.client_ip, why);
  out.emplace_back(Reply{std::move(text)});
  close(out);
}

void ServerSession::reset_transaction() {
  tx_ = Transaction{};
  if (bdat_) bdat_->abandon();  // a BDAT message that will never end: its files go
  bdat_.reset();
  bdat_failed_ = false;
}

void ServerSession::on_connected(const Connected& e, Actions& out) {
  if (state_ != State::kStart) {
    spdlog::error("smtp session {}: Connected in state {}", config_.session_id, to_string(state_));
    return;
  }
  spdlog::debug("smtp session {} connect from {}[{}]", config_.session_id,
                log_safe(config_.client_rdns), log_safe(config_.client_ip));
  if (!e.pregreet.empty()) {
    // CHECKLIST: a client that talks before the greeting is not an SMTP client.
    drop(out, format_reply(554, "5.5.0", "Error: protocol synchronization error (talked first)"),
         "pregreet " + log_safe(e.pregreet, 64));
    return;
  }
  if (shutdown_pending_) {
    drop(out, format_reply(421, "4.3.2", config_.hostname + " Service shutting down"),
         "server shutdown");
    return;
  }
  reply(out, format_reply(220, "", config_.hostname + " ESMTP tegami"), false);
  enter_state(State::kGreeted);
}

void ServerSession::on_input(const Input& e, Actions& out) {
  if (state_ == State::kStart) {
    // Bytes before we greeted: the driver saw an early talker.
    if (!e.bytes.empty()) on_connected(Connected{e.bytes}, out);
    return;
  }
  if (!wants_input()) {
    // The driver read although we are waiting: keep the bytes, bounded.
    if (pending_.size() + e.bytes.size() > kMaxPendingInput) {
      drop(out, format_reply(421, "4.7.0", config_.hostname + " Error: input overflow"),
           "pending input overflow");
      return;
    }
    pending_.append(e.bytes);
    return;
  }
  if (pending_.empty()) {
    input_ = e.bytes;
    process(out);
    if (state_ != State::kClosed) pending_.assign(input_);
  } else {
    pending_.append(e.bytes);
    input_ = pending_;
    process(out);
    if (state_ != State::kClosed) pending_.erase(0, pending_.size() - input_.size());
  }
  input_ = {};
}

void ServerSession::resume(Actions& out) {
  if (pending_.empty() && !shutdown_pending_) return;
  input_ = pending_;
  process(out);
  if (state_ != State::kClosed) pending_.erase(0, pending_.size() - input_.size());
  input_ = {};
}

void ServerSession::on_sender_checked(const SenderChecked& e, Actions& out) {
  if (state_ != State::kCheckingSender) {
    spdlog::error("smtp session {}: SenderChecked in state {}", config_.session_id,
                  to_string(state_));
    return;
  }
  std::string text = reply_line(e.reply);
  int code = reply_code(text);
  if (e.accepted) {
    if (e.reply.empty() || code < 200 || code > 299) text = "250 2.1.0 Ok\r\n";
    spdlog::info("smtp session {} from={}", config_.session_id, log_safe(tx_.sender.to_path()));
    enter_state(State::kMail);
  } else {
    if (e.reply.empty() || code < 400) text = "550 5.7.1 Error: sender rejected\r\n";
    spdlog::info("smtp session {} from={} {}", config_.session_id, log_safe(tx_.sender.to_path()),
                 log_safe(text.substr(0, text.size() - 2)));
    reset_transaction();
    enter_state(State::kReady);
  }
  reply(out, std::move(text), !e.accepted);
  resume(out);
}

void ServerSession::on_auth_checked(const AuthChecked& e, Actions& out) {
  if (state_ != State::kVerifyingAuth) {
    spdlog::error("smtp session {}: AuthChecked in state {}", config_.session_id,
                  to_string(state_));
    return;
  }
  if (e.outcome == AuthChecked::Outcome::kContinue && auth_mechanism_ == kScramMechanism &&
      scram_step_ < 2 && (scram_step_ == 0 || !e.account.empty())) {
    // SCRAM: server-first, or server-final (in a 334: RFC 4954 §4 has no
    // additional data with success); the client answers either.
    ++scram_step_;
    if (scram_step_ == 2) scram_account_ = e.account;
    enter_state(State::kAuthenticating);
    reply(out, "334 " + base64_encode(e.challenge) + "\r\n", false);
    resume(out);
    return;
  }
  const std::string mechanism = std::move(auth_mechanism_);
  auth_mechanism_.clear();
  auth_login_user_.clear();
  scram_step_ = 0;
  scram_account_.clear();
  enter_state(State::kReady);
  switch (e.outcome) {
    case AuthChecked::Outcome::kOk:
      account_ = e.account;
      spdlog::info("smtp session {} client={} auth={} account={}", config_.session_id,
                   config_.client_ip, mechanism, log_safe(account_));
      reply(out, format_reply(235, "2.7.0", "Authentication successful"), false);
      break;
    case AuthChecked::Outcome::kBadCredentials:
      spdlog::info("smtp session {} client={} auth={} failed", config_.session_id,
                   config_.client_ip, mechanism);
      reply(out, format_reply(535, "5.7.8", "Error: authentication failed"), true);
      break;
    case AuthChecked::Outcome::kContinue:  // not expected here: a driver bug
      spdlog::error("smtp session {}: unexpected AuthChecked continuation ({})", config_.session_id,
                    mechanism);
      [[fallthrough]];
    case AuthChecked::Outcome::kTempFailure:
      reply(out, format_reply(454, "4.7.0", "Temporary authentication failure"), false);
      break;
    case AuthChecked::Outcome::kTooManyFailures:
      drop(
          out,
          format_reply(421, "4.7.0", config_.hostname + " Error: too many authentication failures"),
          "too many authentication failures");
      return;
  }
  resume(out);
}

void ServerSession::on_recipient_checked(const RecipientChecked& e, Actions& out) {
  if (state_ != State::kCheckingRecipient) {
    spdlog::error("smtp session {}: RecipientChecked in state {}", config_.session_id,
                  to_string(state_));
    return;
  }
  std::string text = reply_line(e.reply);
  int code = reply_code(text);
  if (e.accepted) {
    if (e.reply.empty() || code < 200 || code > 299) text = "250 2.1.5 Ok\r\n";
    tx_.recipients.push_back(
        EnvelopeRecipient{std::move(tx_.pending), e.resolved, std::move(tx_.pending_params)});
  } else if (e.reply.empty() || code < 400) {
    text = "550 5.1.1 Error: recipient rejected\r\n";
  }
  spdlog::info(
      "smtp session {} rcpt={} {}", config_.session_id,
      log_safe(e.accepted ? tx_.recipients.back().address.to_path() : tx_.pending.to_path()),
      log_safe(text.substr(0, text.size() - 2)));
  tx_.pending = mail::Address{};
  tx_.pending_params = mail::RcptParameters{};
  reply(out, std::move(text), !e.accepted);
  enter_state(tx_.recipients.empty() ? State::kMail : State::kRcpt);
  resume(out);
}

void ServerSession::on_delivery_done(const DeliveryDone& e, Actions& out) {
  if (state_ != State::kDelivering) {
    spdlog::error("smtp session {}: DeliveryDone in state {}", config_.session_id,
                  to_string(state_));
    return;
  }
  if (e.queue_id) {
    reply(out, format_reply(250, "2.0.0", "Ok: queued as " + *e.queue_id), false);
    // A completed transaction shows a working client: its earlier mistakes
    // (e.g. a few unknown recipients in a long-lived session) are forgiven,
    // and so are its junk commands (Postfix does the same).
    errors_ = 0;
    junk_ = 0;
  } else {
    const Error& err = e.queue_id.error();
    int code = err.smtp_code;
    std::string enhanced = err.enhanced;
    if (code < 400 || code > 599) {
      // Unknown errors are temporary (DESIGN rule 6).
      code = 451;
      enhanced = "4.3.0";
    }
    reply(out, format_reply(code, enhanced, "Error: " + err.message), true);
  }
  reset_transaction();
  enter_state(State::kReady);
  resume(out);
}

void ServerSession::on_tls_started(const TlsStarted& e, Actions& out) {
  if (state_ != State::kStartingTls) {
    spdlog::error("smtp session {}: TlsStarted in state {}", config_.session_id, to_string(state_));
    return;
  }
  if (!pending_.empty()) {
    // A driver that read during the handshake: still clear text from before
    // it, never to be executed (CVE-2011-0411).
    spdlog::warn("smtp session {} client={} discarded {} octets received before the TLS handshake",
                 config_.session_id, config_.client_ip, pending_.size());
    pending_.clear();
  }
  if (!e.ok) {
    // The stream is in an unknown TLS state: nothing more can be said on it.
    spdlog::info("smtp session {} client={} TLS handshake failed", config_.session_id,
                 config_.client_ip);
    close(out);
    return;
  }
  tls_ = TlsInfo{e.protocol, e.cipher};
  // The driver logs the handshake at info level; this is the machine's view.
  spdlog::debug("smtp session {} client={} tls={} cipher={}", config_.session_id, config_.client_ip,
                log_safe(e.protocol), log_safe(e.cipher));
  // RFC 3207 §4.2: discard any knowledge obtained from the client (the EHLO
  // argument, the transaction); the client must say EHLO again.
  helo_.clear();
  esmtp_ = false;
  account_.clear();
  reset_transaction();
  parser_.reset();
  enter_state(State::kGreeted);
}

void ServerSession::on_timeout(Actions& out) {
  drop(out, format_reply(421, "4.4.2", config_.hostname + " Error: timeout exceeded"),
       fmt::format("timeout in state {}", to_string(state_)));
}

void ServerSession::on_shutdown(Actions& out) {
  shutdown_pending_ = true;
  // A BDAT chunk is read to its end first (it cannot be told from commands).
  if (wants_input() && state_ != State::kData && state_ != State::kBdat) {
    drop(out, format_reply(421, "4.3.2", config_.hostname + " Service shutting down"),
         "server shutdown");
  }
  // In DATA, or waiting for a verdict or a delivery: answered at the next
  // command boundary (process()).
}

void ServerSession::process(Actions& out) {
  while (true) {
    if (state_ == State::kData) {
      if (input_.empty()) break;
      process_data(out);
      continue;
    }
    if (state_ == State::kBdat) {
      process_bdat(out);  // also with no input: a chunk of 0 octets is complete
      if (state_ == State::kBdat) break;
      continue;
    }
    if (state_ == State::kAuthenticating) {
      if (shutdown_pending_) {
        drop(out, format_reply(421, "4.3.2", config_.hostname + " Service shutting down"),
             "server shutdown");
        break;
      }
      if (input_.empty()) break;
      process_auth_line(out);
      continue;
    }
    if (!kCommandStates.contains(state_)) break;  // waiting, or closed
    if (shutdown_pending_) {
      drop(out, format_reply(421, "4.3.2", config_.hostname + " Service shutting down"),
           "server shutdown");
      break;
    }
    if (input_.empty()) break;
    CommandFeed f = parser_.feed(input_);
    input_.remove_prefix(f.consumed);
    if (std::holds_alternative<NeedMore>(f.result)) continue;  // input_ is empty now
    if (errors_ >= config_.error_drop_after) {
      drop(out, format_reply(421, "4.7.0", config_.hostname + " Error: too many errors"),
           "too many errors");
      break;
    }
    const auto* command = std::get_if<Command>(&f.result);
    const bool junk = command == nullptr || is_junk_verb(command->verb);
    if (junk && config_.junk_command_limit > 0 && junk_ >= config_.junk_command_limit) {
      drop(out, format_reply(421, "4.7.0", config_.hostname + " Error: too many junk commands"),
           fmt::format("too many junk commands ({})", junk_));
      break;
    }
    if (junk) ++junk_;
    if (auto* err = std::get_if<CommandError>(&f.result)) {
      if (error_drops(err->kind)) {
        drop(out, std::string(error_reply(err->kind)),
             err->kind == CommandErrorKind::kNonSmtp ? "non-SMTP command"
                                                     : "bare line ending in command");
      } else {
        reply(out, std::string(error_reply(err->kind)), true);
      }
      continue;
    }
    const unsigned errors_before = errors_;
    dispatch(std::get<Command>(f.result), !input_.empty(), out);
    // A command refused at once (syntax, sequence) is junk as well.
    if (!junk && errors_ > errors_before) ++junk_;
  }
}

void ServerSession::process_data(Actions& out) {
  DataFeed f = data_->feed(input_);
  input_.remove_prefix(f.consumed);
  if (std::holds_alternative<NeedMore>(f.result)) return;
  if (auto* err = std::get_if<DataError>(&f.result)) {
    spdlog::info("smtp session {} message rejected: {} octets, {}", config_.session_id,
                 data_->size(), error_reply(err->kind).substr(0, 9));
    if (error_drops(err->kind)) {
      drop(out, std::string(error_reply(err->kind)),
           err->kind == DataErrorKind::kBareLineEnding ? "bare line ending in DATA"
                                                       : "message far over the size limit");
      return;
    }
    data_.reset();
    reply(out, std::string(error_reply(err->kind)), true);
    reset_transaction();
    enter_state(State::kReady);
    return;
  }
  Deliver d = take_delivery();
  Envelope& env = d.envelope;
  env.binary_mime = false;  // DATA never carries BINARYMIME (refused at DATA)
  env.lines = data_->lines();
  env.streamed = streamed_;
  if (data_->bare_lfs() > 0)
    spdlog::info("smtp session {} message had {} line(s) ended by a bare LF (normalized to CRLF)",
                 config_.session_id, data_->bare_lfs());
  env.body = data_->take_body();
  data_.reset();
  enter_state(State::kDelivering);
  out.emplace_back(std::move(d));
}

}  // namespace tegami::smtp
