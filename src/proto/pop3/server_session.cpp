// ServerSession: the entry point, input handling and dispatch. The states'
// commands are in server_session_auth.cpp and server_session_transaction.cpp.
#include "proto/pop3/server_session.hpp"

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/overloaded.hpp"

namespace tegami::pop3 {
namespace {

bool valid_timestamp(std::string_view ts) {
  if (ts.size() < 3 || ts.front() != '<' || ts.back() != '>') return false;
  for (unsigned char c : ts) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(State state) {
  switch (state) {
    case State::Authorization:
      return "AUTHORIZATION";
    case State::AwaitSaslResponse:
      return "AWAIT-SASL-RESPONSE";
    case State::Transaction:
      return "TRANSACTION";
    case State::Update:
      return "UPDATE";
    case State::Closed:
      return "CLOSED";
  }
  return "?";
}

std::string_view to_string(Mechanism mechanism) {
  switch (mechanism) {
    case Mechanism::UserPass:
      return "USER";
    case Mechanism::Apop:
      return "APOP";
    case Mechanism::SaslPlain:
      return "PLAIN";
  }
  return "?";
}

std::string make_apop_timestamp(std::uint64_t pid, std::uint64_t counter, std::uint64_t clock,
                                std::uint64_t random, std::string_view host) {
  std::string clean;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
    if (ok) clean += c;
  }
  if (clean.empty()) clean = "localhost";
  return fmt::format("<{}.{}.{}.{:016x}@{}>", pid, counter, clock, random, clean);
}

ServerSession::ServerSession(Config config)
    : config_(std::move(config)),
      plaintext_allowed_(config_.plaintext_allowed),
      stls_offered_(config_.stls_offered),
      apop_(config_.apop && valid_timestamp(config_.apop_timestamp)) {
  if (config_.apop && !apop_) {
    spdlog::warn("pop3 session {} APOP disabled: bad or missing timestamp",
                 log_safe(config_.session_id));
  }
}

Actions ServerSession::step(const Event& event) {
  Actions out;
  if (state_ == State::Closed) return out;
  std::visit(Overloaded{
                 [&](const Connected&) { on_connected(out); },
                 [&](const Input& e) { on_input(e.bytes, out); },
                 [&](const AuthResult& e) { on_auth_result(e, out); },
                 [&](const MaildropOpened& e) { on_maildrop_opened(e, out); },
                 [&](const MessageData& e) { on_message_data(e, out); },
                 [&](const UpdateDone& e) { on_update_done(e, out); },
                 [&](const TlsStarted& e) { on_tls_started(e, out); },
                 [&](const Timeout&) { on_timeout(out); },
             },
             event);
  // Pipelined input held while an answer was outstanding (RFC 2449 §6.6).
  resume(out);
  return out;
}

void ServerSession::enter_state(State to) {
  if (to == state_) return;
  spdlog::debug("pop3 session {} {} -> {}", log_safe(config_.session_id), to_string(state_),
                to_string(to));
  state_ = to;
}

void ServerSession::close(Actions& out) {
  enter_state(State::Closed);
  awaiting_ = Awaiting::Nothing;
  discard_input_ = true;
  pending_.clear();
  out.emplace_back(Close{});
}

void ServerSession::reply(Actions& out, std::string text) {
  text += "\r\n";
  out.emplace_back(Reply{std::move(text)});
}

void ServerSession::bad_command(Actions& out, std::string_view text) {
  ++stats_.bad_commands;
  const bool before_login = state_ == State::Authorization || state_ == State::AwaitSaslResponse;
  if ((before_login && stats_.bad_commands >= kMaxBadCommandsBeforeLogin) ||
      stats_.bad_commands >= kMaxBadCommands) {
    spdlog::debug("pop3 session {} too many bad commands", log_safe(config_.session_id));
    reply(out, "-ERR too many bad commands, closing connection");
    close(out);
    return;
  }
  reply(out, std::string(text));
}

bool ServerSession::expect(Awaiting what, std::string_view event_name) {
  if (awaiting_ == what) return true;
  // A driver bug; ignoring the event keeps the protocol state consistent.
  spdlog::warn("pop3 session {} unexpected event {} ignored", log_safe(config_.session_id),
               event_name);
  return false;
}

void ServerSession::on_input(std::string_view bytes, Actions& out) {
  if (discard_input_ || state_ == State::Closed) return;
  if (awaiting()) {
    if (pending_.size() + bytes.size() > kMaxPendingInput) {
      spdlog::warn("pop3 session {} pipelined input over {} octets, closing",
                   log_safe(config_.session_id), kMaxPendingInput);
      close(out);
      return;
    }
    pending_.append(bytes);
    return;
  }
  run_input(bytes, out);
}

void ServerSession::run_input(std::string_view bytes, Actions& out) {
  std::size_t pos = 0;
  while (pos < bytes.size() && !awaiting() && !discard_input_ && state_ != State::Closed) {
    ParseResult r = parser_.feed(bytes.substr(pos));
    pos += r.consumed;
    std::visit(Overloaded{
                   [&](const NeedMore&) {},
                   [&](const Command& cmd) { on_command(cmd, out); },
                   [&](const SaslLine& line) { on_sasl_line(line, out); },
                   [&](const ParseError& error) { on_parse_error(error, out); },
               },
               r.output);
  }
  if (awaiting() && !discard_input_ && pos < bytes.size()) pending_.append(bytes.substr(pos));
  if (awaiting_ == Awaiting::Tls && pos < bytes.size()) {
    // RFC 2595 §4, CVE-2011-0411: clear text pipelined behind STLS is dropped.
    spdlog::warn("pop3 session {} discarded {} octets pipelined after STLS",
                 log_safe(config_.session_id), bytes.size() - pos);
  }
}

void ServerSession::resume(Actions& out) {
  if (awaiting() || pending_.empty() || state_ == State::Closed) return;
  std::string held = std::move(pending_);
  pending_.clear();
  run_input(held, out);  // holds the rest again if it has to wait again
}

bool ServerSession::too_many_before_login(Actions& out) {
  if (state_ != State::Authorization && state_ != State::AwaitSaslResponse) return false;
  const std::size_t limit = config_.max_commands_before_login;
  if (limit == 0 || ++stats_.commands_before_login <= limit) return false;
  spdlog::info("pop3 session {} too many commands before login ({}), closing",
               log_safe(config_.session_id), limit);
  reply(out, "-ERR too many commands without logging in, closing connection");
  close(out);
  return true;
}

void ServerSession::on_parse_error(const ParseError& error, Actions& out) {
  if (too_many_before_login(out)) return;
  if (state_ == State::AwaitSaslResponse) {
    // The SASL exchange ends with the bad line (RFC 5034 §4: -ERR ends AUTH).
    parser_.set_mode(CommandParser::Mode::Command);
    enter_state(State::Authorization);
  }
  user_.reset();
  switch (error.kind) {
    case ParseError::Kind::LineTooLong:
      bad_command(out, "-ERR line too long");
      return;
    case ParseError::Kind::Flood:
      reply(out, "-ERR line too long, closing connection");
      close(out);
      return;
    case ParseError::Kind::BadSyntax:
      bad_command(out, "-ERR invalid command line");
      return;
    case ParseError::Kind::UnknownCommand:
      bad_command(out, "-ERR unknown command");
      return;
    case ParseError::Kind::BadArguments:
      bad_command(out, "-ERR invalid arguments");
      return;
  }
}

void ServerSession::on_command(const Command& cmd, Actions& out) {
  if (too_many_before_login(out)) return;
  const CommandSpec& spec = command_spec(cmd.verb);
  // RFC 1939 §7: PASS only immediately after USER.
  if (cmd.verb != Verb::Pass) user_.reset();
  const std::uint8_t here = state_ == State::Transaction     ? kInTransaction
                            : state_ == State::Authorization ? kInAuthorization
                                                             : 0;
  if ((spec.states & here) == 0) {
    bad_command(out, "-ERR command not valid in this state");
    return;
  }
  switch (cmd.verb) {
    case Verb::User:
      return cmd_user(cmd, out);
    case Verb::Pass:
      return cmd_pass(cmd, out);
    case Verb::Apop:
      return cmd_apop(cmd, out);
    case Verb::Auth:
      return cmd_auth(cmd, out);
    case Verb::Stls:
      return cmd_stls(out);
    case Verb::Capa:
      out.emplace_back(Reply{capabilities()});
      return;
    case Verb::Quit:
      if (state_ == State::Transaction) return cmd_quit_transaction(out);
      // RFC 1939 §4: QUIT in AUTHORIZATION ends the session without UPDATE.
      reply(out, "+OK tegami POP3 server signing off");
      close(out);
      return;
    case Verb::Stat:
      return cmd_stat(out);
    case Verb::List:
      return cmd_list(cmd, out);
    case Verb::Retr:
    case Verb::Top:
      return cmd_retr_top(cmd, out);
    case Verb::Dele:
      return cmd_dele(cmd, out);
    case Verb::Noop:
      reply(out, "+OK");
      return;
    case Verb::Rset:
      return cmd_rset(out);
    case Verb::Uidl:
      return cmd_uidl(cmd, out);
  }
}

void ServerSession::on_timeout(Actions& out) {
  // RFC 1939 §3: on autologout the server closes without a response and
  // without entering UPDATE, so nothing is deleted.
  spdlog::debug("pop3 session {} idle timeout in {}", log_safe(config_.session_id),
                to_string(state_));
  close(out);
}

std::string ServerSession::capabilities() const {
  // RFC 2449 §5: what is offered in AUTHORIZATION is announced in both states.
  std::string text = "+OK capability list follows\r\nTOP\r\n";
  if (plaintext_allowed_) text += "USER\r\n";
  text += "UIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
  if (plaintext_allowed_) text += "SASL PLAIN\r\n";
  if (stls_offered_) text += "STLS\r\n";
  text += "IMPLEMENTATION " + config_.implementation + "\r\n.\r\n";
  return text;
}

}  // namespace tegami::pop3
