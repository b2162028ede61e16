// The sans-I/O SMTP client state machine (DESIGN rule 2): one connection to
// one server, carrying one message to all of its recipients there.
//
// A driver (server/delivery_agent) owns the socket and does only this:
//
//   ClientSession s(config, message);
//   a = s.step(client::Connected{})
//   loop: perform each action of `a` in order:
//     Send         write the bytes
//     SendMessage  write encode_data(message), or encode_bdat(message) when
//                  its bdat is set (data_encoder.hpp)
//     StartTls     run a TLS handshake, then a = s.step(client::TlsDone{ok})
//     Ready        (only with ClientConfig::reuse) the transaction is over and
//                  outcomes() are final; the connection is still good: then
//                  a = s.step(client::Next{message}) for another message
//                  (RSET, then its transaction) or s.step(client::Quit{})
//     Close        close the connection; the outcomes are final
//   while s.wants_input(): read with deadline s.read_timeout(),
//     a = s.step(client::Input{bytes}); on timeout s.step(client::Timeout{});
//     on EOF/reset s.step(client::PeerClosed{})
//
// The dialogue: greeting (220), EHLO, or HELO when EHLO is refused with 5xx
// (RFC 5321 §4.1.4); STARTTLS when offered and the driver can do TLS (the
// hook for RFC 3207; the driver says so in ClientConfig); then MAIL (with
// SIZE= when offered, RFC 1870, and BODY=8BITMIME for 8-bit content, RFC
// 6152), one RCPT per recipient and DATA — as one group when the server
// offers PIPELINING (RFC 2920 §3.1), else one at a time; the message after
// 354 only when some recipient was accepted; QUIT. When the server offers
// CHUNKING (RFC 3030) there is no DATA: once every RCPT is answered and one
// was accepted, the message goes as one "BDAT <n> LAST" chunk (SendMessage
// with bdat set), and the reply to it counts as the reply to the final dot.
//
// Outcomes, per recipient (index into ClientMessage::recipients):
//  - delivered: 2xx after the final dot (or to BDAT LAST);
//  - temporary: 4xx to MAIL, its RCPT, DATA or the final dot; connection
//    lost, timeout, a malformed reply;
//  - permanent: 5xx to MAIL, its RCPT, DATA or the final dot; content the
//    server cannot take: 8-bit data without 8BITMIME (5.6.3), over its SIZE
//    (5.3.4); SMTPUTF8 needed but not offered (5.6.7, below).
//
// DSN (RFC 3461 §5.2.1): when the server offers DSN, MAIL carries the
// message's RET= and ENVID= (xtext) and each RCPT its NOTIFY= and ORCPT=,
// only those that were given; to a server without DSN nothing is added
// (dsn_offered() tells the caller, who then owes the "relayed" DSNs).
//
// SMTPUTF8 (RFC 6531 §3.2, §3.4): a ClientMessage with smtputf8 goes out
// as "MAIL FROM:<...> SMTPUTF8" when the server offers SMTPUTF8. When it
// does not, the message is downgraded (sent without the parameter) if that
// changes nothing: domains are A-labels already, so a recipient whose
// local part is ASCII goes out, one with a UTF-8 local part fails with
// 5.6.7; a UTF-8 sender local part or UTF-8 headers fail every recipient
// with 5.6.7 ("SMTPUTF8 is required, but was not offered"), so they bounce.
// host_failed() is true when the session failed before MAIL was answered
// (greeting, EHLO/HELO, connection, TLS, or the RSET before a reused
// connection's next message): nothing was decided for the recipients, and
// the driver should try the next MX host (RFC 5321 §5.1), or a new
// connection for a message that a reused one could not start.
//
// Connection reuse (issue 15, Postfix's connection cache): with
// ClientConfig::reuse, a transaction that ends with the server still in
// step (its reply to the final dot, to DATA, to MAIL or to the last RCPT
// read) yields Ready instead of QUIT; Next sends RSET (RFC 5321 §4.1.1.5)
// and, once it is answered 250, the next message's MAIL. The outcomes and
// the per-transaction state start afresh with each Next.
//
// Invariants: every state change goes through enter_state() (logged at
// debug level "smtp client ID from -> to"); commands sent never contain a
// CR or LF other than their final CRLF (addresses with control bytes are
// refused before anything is sent); after Close, step() returns nothing;
// once closed, every recipient has an outcome other than kUnknown.
//
// RFC 5321 §3.3, §4.1.1, §4.2, §4.5.3.2 (timeouts), RFC 2920, RFC 1870,
// RFC 6152, RFC 3207, RFC 3030 (CHUNKING), RFC 2034 / RFC 3463 (enhanced codes), RFC 6531,
// RFC 3461 (DSN).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "mail/dsn_params.hpp"
#include "proto/smtp/reply_parser.hpp"

namespace tegami::smtp {

// RFC 5321 §4.5.3.2: the minimum time to wait for each reply.
inline constexpr std::chrono::seconds kGreetingTimeout{300};    // §4.5.3.2.1
inline constexpr std::chrono::seconds kMailTimeout{300};        // §4.5.3.2.2
inline constexpr std::chrono::seconds kRcptTimeout{300};        // §4.5.3.2.3
inline constexpr std::chrono::seconds kDataInitTimeout{120};    // §4.5.3.2.4
inline constexpr std::chrono::seconds kDataBlockTimeout{180};   // §4.5.3.2.5 (per write)
inline constexpr std::chrono::seconds kDataTermTimeout{600};    // §4.5.3.2.6
inline constexpr std::chrono::seconds kOtherReplyTimeout{300};  // EHLO, STARTTLS, QUIT

enum class ClientState : std::uint8_t {
  kStart,         // before Connected
  kGreeting,      // waiting for the 220
  kEhlo,          // EHLO sent
  kHelo,          // HELO sent (EHLO was refused)
  kStartTls,      // STARTTLS sent
  kTlsHandshake,  // StartTls emitted; waiting for TlsDone
  kMail,          // waiting for the reply to MAIL
  kRcpt,          // waiting for replies to RCPT
  kData,          // waiting for the reply to DATA (354)
  kBody,          // message sent; waiting for the reply to the final dot
  kIdle,          // Ready emitted (reuse): waiting for Next or Quit from the driver
  kRset,          // RSET sent before the next message (reuse)
  kQuit,          // QUIT sent
  kClosed,        // Close emitted
};

std::string_view to_string(ClientState s);

struct ClientConfig {
  std::string helo_name = "localhost";  // our name in EHLO/HELO
  std::string session_id;               // for logs
  std::string peer;                     // "mx.example.net[192.0.2.1]:25", for diagnostics
  bool tls_possible = false;            // the driver can perform StartTls
  bool reuse = false;                   // Ready instead of QUIT after a transaction
  // [queue] greeting_timeout and data_timeout (issue 15): the wait for the
  // 220 and for the reply to the final dot / BDAT LAST. The others keep
  // RFC 5321's minimums.
  std::chrono::seconds greeting_timeout = kGreetingTimeout;
  std::chrono::seconds data_timeout = kDataTermTimeout;
};

struct ClientMessage {
  std::string sender;                   // reverse-path without <>; "" is <>
  std::vector<std::string> recipients;  // forward-paths without <>; at least one
  std::uint64_t size = 0;               // octets as stored (for SIZE=)
  bool eight_bit = false;               // has_eight_bit() of the message
  bool smtputf8 = false;                // send with SMTPUTF8 when offered (RFC 6531)
  bool utf8_headers = false;            // has_eight_bit_headers() of the message
  // RFC 3461, passed on only when the server offers DSN (§5.2.1): RET and
  // ENVID on MAIL, NOTIFY and ORCPT on each RCPT (same index as recipients;
  // missing entries mean "not given").
  mail::DsnRet ret = mail::DsnRet::kUnspecified;
  std::string envid;  // decoded; "" when none
  std::vector<mail::DsnNotify> notify;
  std::vector<mail::DsnOrcpt> orcpt;
};

enum class RecipientResult : std::uint8_t { kUnknown, kDelivered, kTemporary, kPermanent };

struct RecipientOutcome {
  RecipientResult result = RecipientResult::kUnknown;
  bool from_server = false;  // `reply` is the server's reply (else our own explanation)
  std::string reply;         // "550 5.1.1 <x>: unknown" or "lost connection with ... while ..."
  std::string status;        // RFC 3463: the server's enhanced code or one derived from the reply
  std::string stage;         // "RCPT TO", "end of data", ... (what the reply answered)
};

namespace client {

// ---- Events (driver -> session) ----
struct Connected {};
struct Input {
  std::string_view bytes;
};
struct TlsDone {
  bool ok = false;
};
struct Timeout {};
struct PeerClosed {};
struct Quit {};  // in kIdle: end the session politely
using Event = std::variant<Connected, Input, TlsDone, Timeout, PeerClosed, Quit>;
// (Next carries a message, so it has its own step(); see below.)

// ---- Actions (session -> driver) ----
struct Send {
  std::string bytes;
};
struct SendMessage {
  bool bdat = false;  // as one BDAT LAST chunk (RFC 3030) instead of DATA content
};
struct StartTls {};
struct Ready {};
struct Close {};
using Action = std::variant<Send, SendMessage, StartTls, Ready, Close>;
using Actions = std::vector<Action>;

}  // namespace client

class ClientSession {
 public:
  ClientSession(ClientConfig config, ClientMessage message);

  client::Actions step(const client::Event& event);
  // In kIdle (after Ready): the next message over the same connection.
  // Outside kIdle it does nothing and returns no action.
  client::Actions next(ClientMessage message);

  ClientState state() const { return state_; }
  bool wants_input() const;
  // How long to wait for the reply the session is waiting for.
  std::chrono::seconds read_timeout() const;

  const std::vector<RecipientOutcome>& outcomes() const { return outcomes_; }
  bool host_failed() const { return host_failed_; }
  // What the server offered in its EHLO reply.
  bool pipelining() const { return pipelining_; }
  bool smtputf8_offered() const { return smtputf8_; }
  bool eight_bit_mime() const { return eight_bit_mime_; }
  bool chunking() const { return chunking_; }  // CHUNKING: the message goes with BDAT
  bool dsn_offered() const { return dsn_; }    // DSN (RFC 3461 §3)
  bool starttls_offered() const { return starttls_; }
  std::uint64_t size_limit() const { return size_limit_; }  // 0: none announced
  bool tls_active() const { return tls_active_; }
  const ClientConfig& config() const { return config_; }

 private:
  void on_reply(const ServerReply& r, client::Actions& out);
  void on_greeting(const ServerReply& r, client::Actions& out);
  void on_ehlo(const ServerReply& r, client::Actions& out);
  void on_helo(const ServerReply& r, client::Actions& out);
  void on_starttls(const ServerReply& r, client::Actions& out);
  void on_mail(const ServerReply& r, client::Actions& out);
  void on_rcpt(const ServerReply& r, client::Actions& out);
  void on_data(const ServerReply& r, client::Actions& out);
  void on_body(const ServerReply& r, client::Actions& out);
  void on_rset(const ServerReply& r, client::Actions& out);

  // After EHLO/HELO (and TLS): checks SIZE and 8BITMIME, then MAIL (+ RCPT + DATA).
  void start_transaction(client::Actions& out);
  void send_rcpt(std::size_t i, client::Actions& out);
  // "RCPT TO:<...>[ NOTIFY=...][ ORCPT=...]\r\n" for message_.recipients[i].
  std::string rcpt_command(std::size_t i) const;
  void quit(client::Actions& out);
  // The transaction is over: Ready (reuse) or QUIT.
  void finish_transaction(client::Actions& out);
  // Fresh per-message state for message_ (refuses unsafe addresses at once).
  void reset_transaction();
  void close(client::Actions& out);
  // The session failed before the transaction: every recipient temporary;
  // QUIT first when `polite` (the server is still talking), else Close.
  void fail_host(std::string why, bool polite, client::Actions& out);
  void fail_host_reply(const ServerReply& r, bool polite, client::Actions& out);
  // Every recipient without an outcome gets `o`.
  void settle_unknown(const RecipientOutcome& o);
  // The connection ended (lost, timeout, bad reply) while waiting in state_.
  void lost(std::string why, client::Actions& out);
  void parse_extensions(const ServerReply& r);
  bool any_accepted() const;
  void enter_state(ClientState next);

  ClientConfig config_;
  ClientMessage message_;
  ClientState state_ = ClientState::kStart;
  ReplyParser parser_;
  std::vector<RecipientOutcome> outcomes_;
  std::vector<bool> accepted_;      // RCPT answered 2xx
  std::vector<std::size_t> order_;  // recipients sent RCPT, in order
  std::size_t next_rcpt_ = 0;       // index into order_ of the RCPT whose reply comes next
  bool mail_failed_ = false;        // MAIL refused: later pipelined replies are ignored
  bool ignore_body_reply_ = false;  // 354 with no recipient accepted: we sent only "."
  bool host_failed_ = false;
  bool pipelining_ = false, eight_bit_mime_ = false, starttls_ = false, tls_active_ = false;
  bool size_offered_ = false;
  bool chunking_ = false;
  bool smtputf8_ = false;
  bool dsn_ = false;
  std::uint64_t size_limit_ = 0;
};

// The RFC 3463 code for a reply: its own enhanced code when it has one,
// else "X.0.0" from the reply's class (RFC 3463 §3.1).
std::string status_for(const ServerReply& r);

}  // namespace tegami::smtp
