// ServerSession: the verbs (RFC 5321 §4.1.1), dispatched from the command
// table in commands.hpp.
#include <fmt/format.h>

#include "core/base64.hpp"
#include "core/log.hpp"
#include "mail/sasl_plain.hpp"
#include "proto/smtp/command_parser.hpp"
#include "proto/smtp/reply.hpp"
#include "proto/smtp/server_session.hpp"

namespace tegami::smtp {

namespace {

// Case-insensitive "FROM:" / "TO:" prefix (RFC 5321 §2.4: verbs and their
// keywords are case-insensitive).
bool strip_keyword(std::string_view& s, std::string_view keyword) {
  if (s.size() < keyword.size()) return false;
  for (std::size_t i = 0; i < keyword.size(); ++i) {
    char c = s[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != keyword[i]) return false;
  }
  s.remove_prefix(keyword.size());
  return true;
}

std::string error_text(const Error& e) {
  return format_reply(e.smtp_code, e.enhanced, e.message);
}

}  // namespace

std::string ServerSession::ehlo_reply() const {
  // RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3207 STARTTLS
  // (only before TLS: §4.2 forbids offering it again), RFC 2034
  // ENHANCEDSTATUSCODES, RFC 3461 DSN, RFC 4954 AUTH (only the mechanisms usable now: no
  // clear-text password mechanism outside TLS unless the network allows it).
  std::vector<std::string> lines{config_.hostname, "PIPELINING",
                                 fmt::format("SIZE {}", config_.max_message_size), "8BITMIME"};
  // RFC 3030 CHUNKING and BINARYMIME (BDAT), next to PIPELINING.
  lines.insert(lines.begin() + 2, {"CHUNKING", "BINARYMIME"});
  if (config_.offer_starttls && !tls_) lines.emplace_back("STARTTLS");
  if (std::string mechs = auth_mechanisms(); !mechs.empty() && account_.empty())
    lines.emplace_back("AUTH " + mechs);
  lines.emplace_back("DSN");       // RFC 3461 §3
  lines.emplace_back("SMTPUTF8");  // RFC 6531 §3.1
  lines.emplace_back("ENHANCEDSTATUSCODES");
  return format_multiline(250, lines);
}

bool ServerSession::starttls_accepted(const Command& cmd) const {
  return cmd.verb == Verb::kStarttls && config_.offer_starttls && !tls_ &&
         cmd.spec->allowed.contains(state_) && trim_spaces(cmd.args).empty();
}

void ServerSession::dispatch(Command& cmd, bool more_input, Actions& out) {
  if (cmd.verb == Verb::kUnknown) {
    reply(out, format_reply(500, "5.5.2", "Error: command not recognized"), true);
    return;
  }
  const CommandSpec& spec = *cmd.spec;
  // A STARTTLS that will be accepted drops what follows it instead (the
  // bytes are discarded in cmd_starttls): the client is not desynchronised,
  // it has only sent clear text that must never be executed.
  if (spec.ends_group && more_input && !starttls_accepted(cmd)) {
    // RFC 2920 §3.1: nothing may follow this verb before its reply. A client
    // that does not wait is a spambot or an attempt to smuggle commands.
    drop(out, format_reply(554, "5.5.0", "Error: protocol synchronization error"),
         fmt::format("input after {}", spec.name));
    return;
  }
  if (!spec.implemented) {
    reply(out, format_reply(502, "5.5.1", "Error: command not implemented"), true);
    return;
  }
  if (!spec.allowed.contains(state_)) {
    out_of_sequence(cmd, out);
    return;
  }
  switch (cmd.verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
      cmd_hello(cmd, out);
      return;
    case Verb::kMail:
      cmd_mail(cmd, out);
      return;
    case Verb::kRcpt:
      cmd_rcpt(cmd, out);
      return;
    case Verb::kData:
      cmd_data(cmd, out);
      return;
    case Verb::kBdat:
      cmd_bdat(cmd, out);
      return;
    case Verb::kStarttls:
      cmd_starttls(cmd, out);
      return;
    case Verb::kAuth:
      cmd_auth(cmd, out);
      return;
    default:
      cmd_simple(cmd, out);
      return;
  }
}

void ServerSession::out_of_sequence(const Command& cmd, Actions& out) {
  // RFC 5321 §4.1.4, §4.3.2; CHECKLIST "Wrong order".
  std::string_view why = "Error: bad sequence of commands";
  int code = 503;
  switch (cmd.verb) {
    case Verb::kMail:
      why =
          state_ == State::kGreeted ? "Error: send HELO/EHLO first" : "Error: nested MAIL command";
      break;
    case Verb::kRcpt:
      why = "Error: need MAIL command";
      break;
    case Verb::kData:
      if (state_ != State::kMail) {
        why = "Error: need MAIL command";
      } else if (tx_.rcpt_commands == 0) {
        why = "Error: need RCPT command";
      } else {
        code = 554;  // CHECKLIST: all recipients refused, then DATA
        why = "Error: no valid recipients";
      }
      break;
    case Verb::kAuth:
    case Verb::kEtrn:
    case Verb::kStarttls:
      why = state_ == State::kGreeted ? "Error: send HELO/EHLO first"
                                      : "Error: not allowed in a mail transaction";
      break;
    default:
      break;
  }
  reply(out, format_reply(code, "5.5.1", why), true);
}

void ServerSession::cmd_hello(const Command& cmd, Actions& out) {
  bool ehlo = cmd.verb == Verb::kEhlo;
  std::string_view arg = trim_spaces(cmd.args);
  // RFC 5321 §4.1.1.1: EHLO SP ( Domain / address-literal ). We take the
  // first word as sent; judging it is policy's job.
  arg = arg.substr(0, arg.find(' '));
  if (arg.empty()) {
    reply(out, format_reply(501, "5.5.4", ehlo ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"),
          true);
    return;
  }
  // RFC 5321 §4.1.4: EHLO/HELO in a transaction resets it, like RSET.
  reset_transaction();
  helo_ = std::string(arg);
  esmtp_ = ehlo;
  enter_state(State::kReady);
  reply(out, ehlo ? ehlo_reply() : format_reply(250, "", config_.hostname), false);
}

void ServerSession::cmd_mail(const Command& cmd, Actions& out) {
  std::string_view args = cmd.args;
  if (!strip_keyword(args, "FROM:")) {
    reply(out, format_reply(501, "5.5.4", "Syntax: MAIL FROM:<address>"), true);
    return;
  }
  auto parsed = mail::parse_path_command(args, mail::PathKind::kReverse, esmtp_);
  if (!parsed) {
    reply(out, error_text(parsed.error()), true);
    return;
  }
  // RFC 1870 §6.1: a declared size over our limit is refused at once.
  if (parsed->params.size && *parsed->params.size > config_.max_message_size) {
    reply(out, format_reply(552, "5.3.4", "Error: message size exceeds fixed maximum message size"),
          true);
    return;
  }
  reset_transaction();
  tx_.sender = std::move(parsed->address);
  tx_.params = parsed->params;
  // Who may use this sender is policy's question (submission needs AUTH,
  // sender-login match, local-domain spoofing): answered by SenderChecked.
  enter_state(State::kCheckingSender);
  out.emplace_back(CheckSender{tx_.sender, account_, tx_.params.size, helo_});
}

void ServerSession::cmd_rcpt(const Command& cmd, Actions& out) {
  ++tx_.rcpt_commands;
  std::string_view args = cmd.args;
  if (!strip_keyword(args, "TO:")) {
    reply(out, format_reply(501, "5.5.4", "Syntax: RCPT TO:<address>"), true);
    return;
  }
  auto parsed =
      mail::parse_path_command(args, mail::PathKind::kForward, esmtp_, tx_.params.smtputf8);
  if (!parsed) {
    reply(out, error_text(parsed.error()), true);
    return;
  }
  if (tx_.recipients.size() >= config_.max_recipients) {
    // RFC 5321 §4.5.3.1.10: 452 lets the client send the rest in another
    // transaction; not an error unless the client keeps on and on.
    bool counts = ++overshoot_ > kRecipientOvershootLimit;
    reply(out, format_reply(452, "4.5.3", "Error: too many recipients"), counts);
    return;
  }
  tx_.pending = parsed->address;
  tx_.pending_params = parsed->rcpt;
  enter_state(State::kCheckingRecipient);
  out.emplace_back(CheckRecipient{std::move(parsed->address), tx_.sender, helo_,
                                  tx_.params.body == mail::BodyType::kBinaryMime});
}

void ServerSession::cmd_data(const Command& cmd, Actions& out) {
  if (!trim_spaces(cmd.args).empty()) {
    reply(out, format_reply(501, "5.5.4", "Syntax: DATA"), true);
    return;
  }
  // RFC 3030 §2: no DATA after BDAT in a transaction; §3: BINARYMIME only
  // with BDAT. Both 503; the client must RSET.
  if (tx_.bdat || tx_.params.body == mail::BodyType::kBinaryMime) {
    reply(out,
          format_reply(503, "5.5.1",
                       tx_.bdat ? "Error: DATA after BDAT in the same transaction"
                                : "Error: BODY=BINARYMIME requires BDAT"),
          true);
    return;
  }
  BodySink* sink = nullptr;
  if (config_.body_sinks != nullptr) {
    sink = config_.body_sinks->open_body(envelope_without_body());
    if (sink == nullptr) {
      reply(out, format_reply(451, "4.3.0", "Error: queue file write error"), true);
      return;
    }
  }
  streamed_ = sink != nullptr;
  data_ = std::make_unique<DataReceiver>(config_.max_message_size, tx_.params.size.value_or(0),
                                         config_.bare_lf_ends_line, sink);
  enter_state(State::kData);
  reply(out, format_reply(354, "", "End data with <CR><LF>.<CR><LF>"), false);
}

void ServerSession::cmd_starttls(const Command& cmd, Actions& out) {
  if (tls_) {
    // RFC 3207 §4.2: no second STARTTLS; Postfix answers the same.
    reply(out, format_reply(554, "5.5.1", "Error: TLS already active"), true);
    return;
  }
  if (!config_.offer_starttls) {
    reply(out, format_reply(502, "5.5.1", "Error: command not implemented"), true);
    return;
  }
  if (!trim_spaces(cmd.args).empty()) {
    reply(out, format_reply(501, "5.5.4", "Syntax: STARTTLS"), true);
    return;
  }
  if (!input_.empty()) {
    // CVE-2011-0411: what the client sent behind STARTTLS arrived in clear
    // text and must not be executed inside the TLS session.
    spdlog::warn("smtp session {} client={} discarded {} octets pipelined after STARTTLS: {}",
                 config_.session_id, config_.client_ip, input_.size(), log_safe(input_, 64));
    input_ = {};
  }
  reply(out, format_reply(220, "2.0.0", "Ready to start TLS"), false);
  enter_state(State::kStartingTls);
  out.emplace_back(StartTls{});
}

std::string ServerSession::auth_mechanisms() const {
  if (!config_.offer_auth) return {};
  // RFC 4954 §4: PLAIN and LOGIN send the password itself; only inside TLS
  // or from a network the operator trusts with clear text. SCRAM-SHA-256
  // (when the operator enabled it, [auth] scram) follows the same rule
  // (issue 14): it hides the password, but a sniffed exchange (salt,
  // iteration count, nonces, proof) lets an eavesdropper test guesses
  // offline at PBKDF2-4096 speed, far cheaper than the yescrypt on disk.
  if (!tls_ && !config_.plaintext_auth) return {};
  return config_.offer_scram ? std::string(kScramMechanism) + " PLAIN LOGIN"
                             : std::string("PLAIN LOGIN");
}

void ServerSession::cmd_auth(const Command& cmd, Actions& out) {
  if (!config_.offer_auth) {
    reply(out, format_reply(503, "5.5.1", "Error: authentication not enabled"), true);
    return;
  }
  if (!account_.empty()) {
    // RFC 4954 §4: no AUTH after a successful one.
    reply(out, format_reply(503, "5.5.1", "Error: already authenticated"), true);
    return;
  }
  std::string_view args = trim_spaces(cmd.args);
  std::string_view mech = args.substr(0, args.find(' '));
  std::string_view initial;
  if (mech.size() < args.size()) initial = trim_spaces(args.substr(mech.size()));
  if (mech.empty() || initial.find(' ') != std::string_view::npos) {
    reply(out, format_reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"), true);
    return;
  }
  std::string upper(mech);
  for (auto& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  const bool scram = upper == kScramMechanism && config_.offer_scram;
  if (upper != "PLAIN" && upper != "LOGIN" && !scram) {
    reply(out, format_reply(504, "5.5.4", "Error: unsupported authentication mechanism"), true);
    return;
  }
  if (!tls_ && !config_.plaintext_auth) {
    // RFC 4954 §6 / RFC 5248: 538 5.7.11, for every mechanism (issue 14).
    reply(out,
          format_reply(538, "5.7.11",
                       "Error: encryption required for requested authentication "
                       "mechanism"),
          true);
    return;
  }
  auth_mechanism_ = upper;
  auth_login_user_.clear();
  scram_step_ = 0;
  scram_account_.clear();
  if (initial.empty()) {
    // PLAIN and SCRAM (client-first): an empty challenge; LOGIN: "Username:" (base64).
    enter_state(State::kAuthenticating);
    reply(out, upper != "LOGIN" ? std::string("334 \r\n") : "334 VXNlcm5hbWU6\r\n", false);
    return;
  }
  // RFC 4954 §4: "=" is an empty initial response.
  std::optional<std::string> decoded =
      initial == "=" ? std::optional<std::string>(std::string()) : base64_decode(initial);
  if (!decoded) {
    auth_mechanism_.clear();
    reply(out, format_reply(501, "5.5.2", "Error: invalid base64 data"), true);
    return;
  }
  auth_message(std::move(*decoded), out);
}

void ServerSession::auth_abort(Actions& out, std::string text) {
  auth_mechanism_.clear();
  auth_login_user_.clear();
  scram_step_ = 0;
  scram_account_.clear();
  enter_state(State::kReady);
  reply(out, std::move(text), true);
}

void ServerSession::auth_message(std::string message, Actions& out) {
  if (auth_mechanism_ == kScramMechanism) {
    // RFC 5802: client-first, client-final, then (RFC 4954 §4) the empty
    // response that acknowledges server-final.
    if (scram_step_ == 0) {
      enter_state(State::kVerifyingAuth);
      out.emplace_back(ScramFirst{std::move(message)});
      return;
    }
    if (scram_step_ == 1) {
      enter_state(State::kVerifyingAuth);
      out.emplace_back(ScramFinal{std::move(message)});
      return;
    }
    if (!message.empty() || scram_account_.empty()) {
      auth_abort(out, format_reply(535, "5.7.8", "Error: authentication failed"));
      return;
    }
    account_ = std::move(scram_account_);
    auth_mechanism_.clear();
    scram_step_ = 0;
    scram_account_.clear();
    enter_state(State::kReady);
    spdlog::info("smtp session {} client={} auth={} account={}", config_.session_id,
                 config_.client_ip, kScramMechanism, log_safe(account_));
    reply(out, format_reply(235, "2.7.0", "Authentication successful"), false);
    return;
  }
  if (auth_mechanism_ == "LOGIN" && auth_login_user_.empty()) {
    if (message.empty() || message.size() > mail::kMaxPlainField ||
        message.find('\0') != std::string::npos) {
      auth_abort(out, format_reply(535, "5.7.8", "Error: authentication failed"));
      return;
    }
    auth_login_user_ = std::move(message);
    enter_state(State::kAuthenticating);
    reply(out, "334 UGFzc3dvcmQ6\r\n", false);  // "Password:"
    return;
  }
  VerifyAuth v;
  v.mechanism = auth_mechanism_;
  if (auth_mechanism_ == "PLAIN") {
    auto creds = mail::parse_sasl_plain(message);
    if (!creds) {
      auth_abort(out, format_reply(535, "5.7.8", "Error: authentication failed"));
      return;
    }
    v.authzid = std::move(creds->authzid);
    v.authcid = std::move(creds->authcid);
    v.password = std::move(creds->password);
  } else {
    if (message.empty() || message.size() > mail::kMaxPlainField ||
        message.find('\0') != std::string::npos) {
      auth_abort(out, format_reply(535, "5.7.8", "Error: authentication failed"));
      return;
    }
    v.authcid = std::move(auth_login_user_);
    v.password = std::move(message);
  }
  auth_login_user_.clear();
  enter_state(State::kVerifyingAuth);
  out.emplace_back(std::move(v));
}

void ServerSession::process_auth_line(Actions& out) {
  // One SASL response line (RFC 4954 §4): base64 or "*", CRLF-terminated,
  // at most kMaxAuthLine octets; a bare LF ends it too (clients are lax here
  // and nothing can be smuggled: the line is never a command).
  std::size_t lf = input_.find('\n');
  std::string_view chunk = input_.substr(0, lf == std::string_view::npos ? input_.size() : lf);
  if (!auth_overflow_) {
    auth_line_.append(chunk);
    if (auth_line_.size() + 2 > kMaxAuthLine) {
      auth_overflow_ = true;
      auth_line_.clear();
    }
  }
  if (lf == std::string_view::npos) {
    input_ = {};
    return;  // need more
  }
  input_.remove_prefix(lf + 1);
  std::string line = std::move(auth_line_);
  auth_line_.clear();
  if (auth_overflow_) {
    auth_overflow_ = false;
    auth_abort(out, std::string(error_reply(CommandErrorKind::kAuthTooLong)));
    return;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::string_view response = trim_spaces(line);
  if (response == "*") {
    // RFC 4954 §4: the client cancels.
    auth_abort(out, format_reply(501, "5.7.0", "Authentication aborted"));
    return;
  }
  auto decoded = base64_decode(response);
  if (!decoded) {
    auth_abort(out, format_reply(501, "5.5.2", "Error: invalid base64 data"));
    return;
  }
  auth_message(std::move(*decoded), out);
}

void ServerSession::cmd_simple(const Command& cmd, Actions& out) {
  bool has_args = !trim_spaces(cmd.args).empty();
  switch (cmd.verb) {
    case Verb::kRset:
      if (has_args) {
        reply(out, format_reply(501, "5.5.4", "Syntax: RSET"), true);
        return;
      }
      reset_transaction();
      if (state_ != State::kGreeted) enter_state(State::kReady);
      reply(out, format_reply(250, "2.0.0", "Ok"), false);
      return;
    case Verb::kNoop:
      // RFC 5321 §4.1.1.9: a parameter is allowed and ignored.
      reply(out, format_reply(250, "2.0.0", "Ok"), false);
      return;
    case Verb::kVrfy:
      if (!has_args) {
        reply(out, format_reply(501, "5.5.4", "Syntax: VRFY address"), true);
        return;
      }
      // RFC 5321 §3.5.3: 252 without looking anything up (no user enumeration).
      reply(out,
            format_reply(252, "2.5.0",
                         "Cannot VRFY user, but will accept message and attempt delivery"),
            false);
      return;
    case Verb::kHelp:
      reply(
          out,
          format_reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"),
          false);
      return;
    case Verb::kQuit:
      out.emplace_back(Reply{format_reply(221, "2.0.0", "Bye")});
      close(out);
      return;
    default:
      reply(out, format_reply(502, "5.5.1", "Error: command not implemented"), true);
      return;
  }
}

}  // namespace tegami::smtp
