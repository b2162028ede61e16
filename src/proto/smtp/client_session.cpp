#include "proto/smtp/client_session.hpp"

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/overloaded.hpp"
#include "mail/intl.hpp"

namespace tegami::smtp {

namespace {

// Printable US-ASCII without '<', '>' and SP outside quotes is what our own
// SMTP server lets into an envelope (and, with SMTPUTF8, printable UTF-8);
// anything with a control byte here would let a command be smuggled, so it
// is refused before anything is sent.
bool safe_path(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '<' || c == '>') return false;
  }
  return mail::is_ascii(s) || mail::printable_utf8(s);
}

// RFC 6531 §3.2: what a server without SMTPUTF8 is told nothing about.
constexpr std::string_view kNoSmtpUtf8 = "SMTPUTF8 is required, but was not offered by";

std::string_view stage_of(ClientState s) {
  switch (s) {
    case ClientState::kStart:
    case ClientState::kGreeting:
      return "greeting";
    case ClientState::kEhlo:
      return "EHLO";
    case ClientState::kHelo:
      return "HELO";
    case ClientState::kStartTls:
    case ClientState::kTlsHandshake:
      return "STARTTLS";
    case ClientState::kMail:
      return "MAIL FROM";
    case ClientState::kRcpt:
      return "RCPT TO";
    case ClientState::kData:
      return "DATA";
    case ClientState::kBody:
      return "end of data";
    case ClientState::kIdle:
    case ClientState::kRset:
      return "RSET";
    case ClientState::kQuit:
    case ClientState::kClosed:
      return "QUIT";
  }
  return "?";
}

RecipientOutcome from_reply(const ServerReply& r, std::string_view stage) {
  RecipientOutcome o;
  o.result = r.kind() == 2   ? RecipientResult::kDelivered
             : r.kind() == 5 ? RecipientResult::kPermanent
                             : RecipientResult::kTemporary;
  o.from_server = true;
  o.reply = r.text();
  o.status = status_for(r);
  o.stage = std::string(stage);
  return o;
}

RecipientOutcome ours(RecipientResult result, std::string text, std::string status,
                      std::string_view stage) {
  RecipientOutcome o;
  o.result = result;
  o.reply = std::move(text);
  o.status = std::move(status);
  o.stage = std::string(stage);
  return o;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(ClientState s) {
  switch (s) {
    case ClientState::kStart:
      return "start";
    case ClientState::kGreeting:
      return "greeting";
    case ClientState::kEhlo:
      return "ehlo";
    case ClientState::kHelo:
      return "helo";
    case ClientState::kStartTls:
      return "starttls";
    case ClientState::kTlsHandshake:
      return "tls-handshake";
    case ClientState::kMail:
      return "mail";
    case ClientState::kRcpt:
      return "rcpt";
    case ClientState::kData:
      return "data";
    case ClientState::kBody:
      return "body";
    case ClientState::kIdle:
      return "idle";
    case ClientState::kRset:
      return "rset";
    case ClientState::kQuit:
      return "quit";
    case ClientState::kClosed:
      return "closed";
  }
  return "?";
}

std::string status_for(const ServerReply& r) {
  auto e = r.enhanced();
  if (!e.empty()) return e;
  switch (r.kind()) {
    case 2:
      return "2.0.0";
    case 5:
      return "5.0.0";
    default:
      return "4.0.0";
  }
}

ClientSession::ClientSession(ClientConfig config, ClientMessage message)
    : config_(std::move(config)), message_(std::move(message)) {
  reset_transaction();
}

void ClientSession::reset_transaction() {
  outcomes_.assign(message_.recipients.size(), RecipientOutcome{});
  accepted_.assign(message_.recipients.size(), false);
  order_.clear();
  next_rcpt_ = 0;
  mail_failed_ = false;
  ignore_body_reply_ = false;
  host_failed_ = false;
  bool sender_ok = safe_path(message_.sender);
  for (std::size_t i = 0; i < message_.recipients.size(); ++i) {
    if (!sender_ok) {
      outcomes_[i] =
          ours(RecipientResult::kPermanent,
               "the sender address contains bytes that SMTP cannot carry", "5.1.7", "MAIL FROM");
    } else if (!safe_path(message_.recipients[i])) {
      outcomes_[i] =
          ours(RecipientResult::kPermanent,
               "the recipient address contains bytes that SMTP cannot carry", "5.1.3", "RCPT TO");
    }
  }
}

bool ClientSession::wants_input() const {
  switch (state_) {
    case ClientState::kStart:
    case ClientState::kTlsHandshake:
    case ClientState::kIdle:
    case ClientState::kClosed:
      return false;
    default:
      return true;
  }
}

std::chrono::seconds ClientSession::read_timeout() const {
  switch (state_) {
    case ClientState::kGreeting:
      return config_.greeting_timeout;
    case ClientState::kMail:
      return kMailTimeout;
    case ClientState::kRcpt:
      return kRcptTimeout;
    case ClientState::kData:
      return kDataInitTimeout;
    case ClientState::kBody:
      return config_.data_timeout;
    default:
      return kOtherReplyTimeout;
  }
}

void ClientSession::enter_state(ClientState next) {
  if (next == state_) return;
  spdlog::debug("smtp client {} {} -> {}", config_.session_id, to_string(state_), to_string(next));
  state_ = next;
}

client::Actions ClientSession::step(const client::Event& event) {
  client::Actions out;
  if (state_ == ClientState::kClosed) return out;
  std::visit(Overloaded{
                 [&](const client::Connected&) {
                   if (state_ != ClientState::kStart) return;
                   enter_state(ClientState::kGreeting);
                 },
                 [&](const client::Input& in) {
                   std::string_view bytes = in.bytes;
                   while (!bytes.empty() && wants_input()) {
                     auto f = parser_.feed(bytes);
                     bytes.remove_prefix(f.consumed);
                     if (std::holds_alternative<NeedMore>(f.result)) break;
                     if (const auto* e = std::get_if<ReplyError>(&f.result)) {
                       lost(fmt::format("{} from {} while waiting for the reply to {}",
                                        to_string(e->kind), config_.peer, stage_of(state_)),
                            out);
                       break;
                     }
                     on_reply(std::get<ServerReply>(f.result), out);
                     if (state_ == ClientState::kTlsHandshake && !bytes.empty()) {
                       // RFC 3207 §6: bytes after the 220 would be taken as if they
                       // came over TLS (command injection). Give up on this host.
                       out.pop_back();  // the StartTls action
                       fail_host("the server sent data after its reply to STARTTLS", false, out);
                       break;
                     }
                   }
                 },
                 [&](const client::TlsDone& t) {
                   if (state_ != ClientState::kTlsHandshake) return;
                   if (!t.ok) {
                     fail_host("TLS handshake with " + config_.peer + " failed", false, out);
                     return;
                   }
                   tls_active_ = true;
                   pipelining_ = eight_bit_mime_ = starttls_ = size_offered_ = chunking_ =
                       smtputf8_ = false;
                   size_limit_ = 0;
                   parser_ = ReplyParser{};
                   out.emplace_back(client::Send{"EHLO " + config_.helo_name + "\r\n"});
                   enter_state(ClientState::kEhlo);
                 },
                 [&](const client::Timeout&) {
                   lost(fmt::format("timeout after {}s waiting for the reply to {} from {}",
                                    read_timeout().count(), stage_of(state_), config_.peer),
                        out);
                 },
                 [&](const client::Quit&) {
                   if (state_ == ClientState::kIdle) quit(out);
                 },
                 [&](const client::PeerClosed&) {
                   lost(fmt::format("lost connection with {} while waiting for the reply to {}",
                                    config_.peer, stage_of(state_)),
                        out);
                 },
             },
             event);
  return out;
}

client::Actions ClientSession::next(ClientMessage message) {
  client::Actions out;
  if (state_ != ClientState::kIdle) return out;
  message_ = std::move(message);
  reset_transaction();
  out.emplace_back(client::Send{"RSET\r\n"});
  enter_state(ClientState::kRset);
  return out;
}

void ClientSession::on_reply(const ServerReply& r, client::Actions& out) {
  if (r.code == 421 && state_ != ClientState::kQuit) {
    // RFC 5321 §3.8: the server is closing the channel; no QUIT.
    std::string why = r.text();
    switch (state_) {
      case ClientState::kGreeting:
      case ClientState::kEhlo:
      case ClientState::kHelo:
      case ClientState::kStartTls:
      case ClientState::kRset:
        fail_host_reply(r, false, out);
        return;
      default:
        settle_unknown(from_reply(r, stage_of(state_)));
        close(out);
        return;
    }
  }
  switch (state_) {
    case ClientState::kGreeting:
      return on_greeting(r, out);
    case ClientState::kEhlo:
      return on_ehlo(r, out);
    case ClientState::kHelo:
      return on_helo(r, out);
    case ClientState::kStartTls:
      return on_starttls(r, out);
    case ClientState::kMail:
      return on_mail(r, out);
    case ClientState::kRcpt:
      return on_rcpt(r, out);
    case ClientState::kData:
      return on_data(r, out);
    case ClientState::kBody:
      return on_body(r, out);
    case ClientState::kRset:
      return on_rset(r, out);
    case ClientState::kQuit:
      return close(out);
    default:
      return;
  }
}

void ClientSession::on_greeting(const ServerReply& r, client::Actions& out) {
  if (r.kind() != 2) {
    fail_host_reply(r, true, out);
    return;
  }
  out.emplace_back(client::Send{"EHLO " + config_.helo_name + "\r\n"});
  enter_state(ClientState::kEhlo);
}

void ClientSession::parse_extensions(const ServerReply& r) {
  // The first line is the greeting text; each later line is "KEYWORD [params]".
  for (std::size_t i = 1; i < r.lines.size(); ++i) {
    std::string_view line = r.lines[i];
    auto sp = line.find(' ');
    std::string_view kw = line.substr(0, sp);
    std::string_view arg = sp == std::string_view::npos ? "" : line.substr(sp + 1);
    if (iequals(kw, "PIPELINING")) {
      pipelining_ = true;
    } else if (iequals(kw, "8BITMIME")) {
      eight_bit_mime_ = true;
    } else if (iequals(kw, "STARTTLS")) {
      starttls_ = true;
    } else if (iequals(kw, "CHUNKING")) {
      chunking_ = true;
    } else if (iequals(kw, "SMTPUTF8")) {
      smtputf8_ = true;
    } else if (iequals(kw, "DSN")) {
      dsn_ = true;
    } else if (iequals(kw, "SIZE")) {
      size_offered_ = true;
      std::uint64_t n = 0;
      bool ok = !arg.empty() && arg.size() <= 20;
      for (char c : arg) {
        if (c < '0' || c > '9') {
          ok = false;
          break;
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      }
      size_limit_ = ok ? n : 0;  // RFC 1870 §4: 0 or no number means no fixed limit
    }
  }
}

void ClientSession::on_ehlo(const ServerReply& r, client::Actions& out) {
  if (r.kind() == 2) {
    parse_extensions(r);
    if (starttls_ && config_.tls_possible && !tls_active_) {
      out.emplace_back(client::Send{"STARTTLS\r\n"});
      enter_state(ClientState::kStartTls);
      return;
    }
    start_transaction(out);
    return;
  }
  if (r.kind() == 5) {  // RFC 5321 §4.1.4: an old server; fall back to HELO
    out.emplace_back(client::Send{"HELO " + config_.helo_name + "\r\n"});
    enter_state(ClientState::kHelo);
    return;
  }
  fail_host_reply(r, true, out);
}

void ClientSession::on_helo(const ServerReply& r, client::Actions& out) {
  if (r.kind() == 2) {
    start_transaction(out);
    return;
  }
  fail_host_reply(r, true, out);
}

void ClientSession::on_starttls(const ServerReply& r, client::Actions& out) {
  if (r.kind() == 2) {
    out.emplace_back(client::StartTls{});
    enter_state(ClientState::kTlsHandshake);
    return;
  }
  // Opportunistic TLS (RFC 3207 §4.1): without it, go on in clear text.
  spdlog::info("smtp client {} {} refused STARTTLS ({}); continuing without TLS",
               config_.session_id, config_.peer, r.text());
  start_transaction(out);
}

void ClientSession::start_transaction(client::Actions& out) {
  if (size_limit_ > 0 && message_.size > size_limit_) {
    settle_unknown(ours(RecipientResult::kPermanent,
                        fmt::format("message size {} exceeds the fixed maximum message size {} of "
                                    "{} (RFC 1870)",
                                    message_.size, size_limit_, config_.peer),
                        "5.3.4", "MAIL FROM"));
    finish_transaction(out);
    return;
  }
  if (message_.smtputf8 && !smtputf8_) {
    // RFC 6531 §3.2: downgrade only what needs no change (A-label domains
    // are already in the envelope); bounce the rest with 5.6.7.
    std::string why = fmt::format("{} the next hop {} (RFC 6531)", kNoSmtpUtf8, config_.peer);
    if (!mail::is_ascii(message_.sender) || message_.utf8_headers) {
      settle_unknown(ours(RecipientResult::kPermanent,
                          why + (message_.utf8_headers ? "; the header has UTF-8"
                                                       : "; the sender address has UTF-8"),
                          "5.6.7", "MAIL FROM"));
      finish_transaction(out);
      return;
    }
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
      if (outcomes_[i].result == RecipientResult::kUnknown &&
          !mail::is_ascii(message_.recipients[i]))
        outcomes_[i] = ours(RecipientResult::kPermanent, why + "; the recipient address has UTF-8",
                            "5.6.7", "RCPT TO");
    }
  }
  if (message_.eight_bit && !eight_bit_mime_) {
    settle_unknown(ours(RecipientResult::kPermanent,
                        fmt::format("the message has 8-bit content and {} does not offer 8BITMIME "
                                    "(RFC 6152); it cannot be delivered without conversion",
                                    config_.peer),
                        "5.6.3", "MAIL FROM"));
    finish_transaction(out);
    return;
  }
  order_.clear();
  for (std::size_t i = 0; i < outcomes_.size(); ++i)
    if (outcomes_[i].result == RecipientResult::kUnknown) order_.push_back(i);
  if (order_.empty()) {
    finish_transaction(out);
    return;
  }
  std::string cmd = "MAIL FROM:<" + message_.sender + ">";
  if (size_offered_) cmd += " SIZE=" + std::to_string(message_.size);
  if (message_.eight_bit) cmd += " BODY=8BITMIME";
  if (message_.smtputf8 && smtputf8_) cmd += " SMTPUTF8";
  if (dsn_ && message_.ret != mail::DsnRet::kUnspecified)
    cmd += " RET=" + std::string(mail::ret_text(message_.ret));
  if (dsn_ && !message_.envid.empty()) cmd += " ENVID=" + mail::xtext_encode(message_.envid);
  cmd += "\r\n";
  if (pipelining_) {
    // RFC 2920 §3.1: MAIL, every RCPT and DATA in one group; DATA ends it.
    // With CHUNKING the BDAT waits for the RCPT replies instead (a chunk
    // sent to no accepted recipient would be read for nothing).
    for (std::size_t i : order_) cmd += rcpt_command(i);
    if (!chunking_) cmd += "DATA\r\n";
  }
  out.emplace_back(client::Send{std::move(cmd)});
  next_rcpt_ = 0;
  enter_state(ClientState::kMail);
}

void ClientSession::send_rcpt(std::size_t k, client::Actions& out) {
  out.emplace_back(client::Send{rcpt_command(order_[k])});
}

std::string ClientSession::rcpt_command(std::size_t i) const {
  std::string cmd = "RCPT TO:<" + message_.recipients[i] + ">";
  if (dsn_) {
    if (i < message_.notify.size() && message_.notify[i].given())
      cmd += " NOTIFY=" + mail::notify_text(message_.notify[i]);
    if (i < message_.orcpt.size() && message_.orcpt[i].given())
      cmd += " ORCPT=" + mail::orcpt_text(message_.orcpt[i]);
  }
  return cmd + "\r\n";
}

void ClientSession::on_mail(const ServerReply& r, client::Actions& out) {
  if (r.kind() == 2) {
    enter_state(ClientState::kRcpt);
    if (!pipelining_) send_rcpt(0, out);
    return;
  }
  settle_unknown(from_reply(r, "MAIL FROM"));
  if (pipelining_) {
    // The RCPT and DATA replies are on their way; read and ignore them.
    mail_failed_ = true;
    enter_state(ClientState::kRcpt);
    return;
  }
  finish_transaction(out);
}

void ClientSession::on_rcpt(const ServerReply& r, client::Actions& out) {
  std::size_t idx = order_[next_rcpt_++];
  if (!mail_failed_) {
    if (r.kind() == 2) {
      accepted_[idx] = true;
    } else {
      outcomes_[idx] = from_reply(r, "RCPT TO");
    }
  }
  if (next_rcpt_ < order_.size()) {
    if (!pipelining_) send_rcpt(next_rcpt_, out);
    return;
  }
  if (chunking_) {
    if (mail_failed_ || !any_accepted()) {
      finish_transaction(out);
      return;
    }
    out.emplace_back(client::SendMessage{true});  // RFC 3030: "BDAT <n> LAST" + the message
    enter_state(ClientState::kBody);
    return;
  }
  if (pipelining_) {
    enter_state(ClientState::kData);  // DATA was sent with the group
    return;
  }
  if (!any_accepted()) {
    finish_transaction(out);
    return;
  }
  out.emplace_back(client::Send{"DATA\r\n"});
  enter_state(ClientState::kData);
}

void ClientSession::on_data(const ServerReply& r, client::Actions& out) {
  if (r.kind() == 3) {
    if (!mail_failed_ && any_accepted()) {
      out.emplace_back(client::SendMessage{});
    } else {
      // RFC 2920 §3.1: DATA accepted though no recipient was: send an empty message.
      out.emplace_back(client::Send{".\r\n"});
      ignore_body_reply_ = true;
    }
    enter_state(ClientState::kBody);
    return;
  }
  if (!mail_failed_) {
    auto o = from_reply(r, "DATA");
    if (o.result == RecipientResult::kDelivered) {  // 2xx to DATA is a protocol error
      o.result = RecipientResult::kTemporary;
      o.status = "4.5.0";
    }
    for (std::size_t i = 0; i < outcomes_.size(); ++i)
      if (accepted_[i] && outcomes_[i].result == RecipientResult::kUnknown) outcomes_[i] = o;
  }
  finish_transaction(out);
}

void ClientSession::on_body(const ServerReply& r, client::Actions& out) {
  if (!ignore_body_reply_) {
    auto o = from_reply(r, chunking_ ? "BDAT LAST" : "end of data");
    for (std::size_t i = 0; i < outcomes_.size(); ++i)
      if (accepted_[i] && outcomes_[i].result == RecipientResult::kUnknown) outcomes_[i] = o;
  }
  finish_transaction(out);
}

void ClientSession::on_rset(const ServerReply& r, client::Actions& out) {
  if (r.kind() == 2) {
    start_transaction(out);
    return;
  }
  // Nothing was decided for this message: another connection may do better.
  fail_host_reply(r, true, out);
}

void ClientSession::finish_transaction(client::Actions& out) {
  if (!config_.reuse) {
    quit(out);
    return;
  }
  out.emplace_back(client::Ready{});
  enter_state(ClientState::kIdle);
}

void ClientSession::quit(client::Actions& out) {
  out.emplace_back(client::Send{"QUIT\r\n"});
  enter_state(ClientState::kQuit);
}

void ClientSession::close(client::Actions& out) {
  settle_unknown(ours(RecipientResult::kTemporary,
                      "connection with " + config_.peer + " closed before an answer", "4.4.2",
                      stage_of(state_)));
  out.emplace_back(client::Close{});
  enter_state(ClientState::kClosed);
}

void ClientSession::fail_host_reply(const ServerReply& r, bool polite, client::Actions& out) {
  // The server's own words, exactly (they become "smtp; <reply>" in a DSN,
  // RFC 3464 §2.3.6) with the stage they answered. Temporary whatever the
  // code: the next host may do better (RFC 5321 §5.1).
  host_failed_ = true;
  RecipientOutcome o = from_reply(r, stage_of(state_));
  o.result = RecipientResult::kTemporary;
  o.status = "4.4.0";
  settle_unknown(o);
  if (polite) {
    quit(out);
  } else {
    close(out);
  }
}

void ClientSession::fail_host(std::string why, bool polite, client::Actions& out) {
  host_failed_ = true;
  settle_unknown(ours(RecipientResult::kTemporary, std::move(why), "4.4.0", stage_of(state_)));
  if (polite) {
    quit(out);
  } else {
    close(out);
  }
}

void ClientSession::lost(std::string why, client::Actions& out) {
  switch (state_) {
    case ClientState::kStart:
    case ClientState::kGreeting:
    case ClientState::kEhlo:
    case ClientState::kHelo:
    case ClientState::kStartTls:
    case ClientState::kTlsHandshake:
    case ClientState::kIdle:
    case ClientState::kRset:
      fail_host(std::move(why), false, out);
      return;
    case ClientState::kQuit:
      close(out);  // every outcome is known already
      return;
    default:
      // Lost after the final dot: the message may have arrived; retrying may
      // duplicate it, which is better than losing it (RFC 1047).
      settle_unknown(ours(RecipientResult::kTemporary, std::move(why), "4.4.2", stage_of(state_)));
      close(out);
      return;
  }
}

void ClientSession::settle_unknown(const RecipientOutcome& o) {
  for (auto& x : outcomes_)
    if (x.result == RecipientResult::kUnknown) x = o;
}

bool ClientSession::any_accepted() const {
  for (std::size_t i = 0; i < accepted_.size(); ++i)
    if (accepted_[i] && outcomes_[i].result == RecipientResult::kUnknown) return true;
  return false;
}

}  // namespace tegami::smtp
