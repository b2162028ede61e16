// The sans-I/O SMTP server state machine (DESIGN rule 2).
//
// A driver (src/server) owns the socket and does only this:
//
//   Actions a = session.step(Connected{});          // then perform a
//   loop:
//     if session.wants_input(): read some bytes -> a = session.step(Input{bytes})
//     perform each action of `a` in order:
//       Reply          write (or buffer) the text
//       Delay          wait that long before writing what follows
//       CheckSender    ask policy; a = session.step(SenderChecked{...}); perform a
//       CheckRecipient ask policy; a = session.step(RecipientChecked{...}); perform a
//       VerifyAuth     check the credentials (and throttle failures);
//                      a = session.step(AuthChecked{...}); perform a
//       ScramFirst     start a SCRAM-SHA-256 exchange (the driver keeps its
//                      state); a = session.step(AuthChecked{kContinue,
//                      server-first} or a failure); perform a
//       ScramFinal     verify the client's proof (throttle failures);
//                      a = session.step(AuthChecked{kContinue, server-final,
//                      account} or a failure); perform a
//       Deliver        store the message; a = session.step(DeliveryDone{...}); perform a
//       StartTls       flush the written replies (the 220), run the TLS handshake,
//                      a = session.step(TlsStarted{...}); perform a
//       Close          flush the written replies, close the connection, stop
//   read timeout: a = session.step(Timeout{});  peer EOF/reset: session.step(PeerClosed{})
//   graceful stop: a = session.step(Shutdown{}) (answers 421 now, or after DATA)
//
// Replies may be written as soon as they appear; to coalesce pipelined
// replies (RFC 2920 §3.2), buffer them and flush when wants_input() becomes
// true or on Close. One step(Input) processes every complete command in the
// bytes it is given, except that it stops at each RCPT (CheckRecipient) and
// at the end of DATA (Deliver) until the answering event arrives; the bytes
// after that point are kept inside and processed by the answering step().
// While wants_input() is false the driver must not read (so the buffered
// input stays bounded by one read).
//
// Invariants:
//  - every state change goes through enter_state(), which logs
//    "smtp session ID from -> to" at debug level;
//  - replies come out in command order; nothing is read ahead of an
//    unanswered RCPT or of an unanswered end of DATA;
//  - no reply ever contains a bare CR or LF;
//  - CheckSender, CheckRecipient, VerifyAuth, ScramFirst, ScramFinal,
//    Deliver, StartTls and Close are always the last action of the Actions
//    they are in (so a driver may queue the answering step's actions behind
//    them);
//  - AUTH (RFC 4954): offered only when SessionConfig::offer_auth, and
//    only inside TLS or when plaintext_auth (538 5.7.11 else): PLAIN, LOGIN
//    and SCRAM-SHA-256 alike (issue 14: a sniffed SCRAM exchange can be
//    attacked offline). SCRAM-SHA-256 (RFC 7677) when offer_scram:
//    client-first -> ScramFirst -> "334 server-first" -> client-final ->
//    ScramFinal -> "334 server-final" -> the client's empty response -> 235
//    (RFC 4954 §4 has no additional data with success: the server-final
//    message travels in a 334 challenge); the session only carries the
//    messages, the driver owns the SCRAM state;
//    once authenticated, a second AUTH is 503 5.5.1; a STARTTLS forgets the
//    authentication along with everything else (it can only come before);
//    a response line is at most kMaxAuthLine octets (500 5.5.6);
//  - STARTTLS (RFC 3207): bytes the client pipelined behind STARTTLS are
//    discarded and logged, never executed (CVE-2011-0411); after the
//    handshake the machine is back in kGreeted and has forgotten EHLO and
//    everything else the client said before (RFC 3207 §4.2); STARTTLS in TLS
//    is refused 554 5.5.1;
//  - BDAT (RFC 3030 CHUNKING): the chunk-size octets after a BDAT line are
//    read in kBdat as message content, never as commands, also when the
//    BDAT is refused (503/501/554: read and discarded first, §2); each
//    chunk is answered after its last octet (250, or the error, which ends
//    the transaction); BDAT LAST emits Deliver like the end of DATA; DATA
//    after BDAT, and DATA with BODY=BINARYMIME, are 503 5.5.1 (§2, §3); a
//    chunk-size that cannot be parsed, or too large to discard, drops;
//  - after Close, step() returns no actions.
//
// RFC 5321 (§3.3 transaction, §4.1 commands, §4.2 replies, §4.3.2 sequences,
// §4.5.3 limits), RFC 2920 (PIPELINING), RFC 1870 (SIZE), RFC 6152
// (8BITMIME), RFC 6531 (SMTPUTF8), RFC 2034 + RFC 3463 (ENHANCEDSTATUSCODES),
// RFC 3461 (DSN: RET, ENVID, NOTIFY, ORCPT are parsed and handed over in the
// Envelope; honouring them is the server's job), RFC 3207
// (STARTTLS), RFC 8314 (implicit TLS), RFC 3848 (ESMTPS in Received:),
// RFC 3030 (CHUNKING, BINARYMIME),
// RFC 4954 (AUTH), RFC 4616 (PLAIN), draft-murchison-sasl-login (LOGIN),
// RFC 5802 + RFC 7677 (SCRAM-SHA-256).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"
#include "mail/address.hpp"
#include "proto/smtp/bdat_receiver.hpp"
#include "proto/smtp/command_parser.hpp"
#include "proto/smtp/data_receiver.hpp"
#include "proto/smtp/state.hpp"

namespace tegami::smtp {

// CHECKLIST "Error flood": slow down after 10 errors, drop after 20.
inline constexpr unsigned kDefaultErrorDelayAfter = 10;
inline constexpr unsigned kDefaultErrorDropAfter = 20;
// Issue 14: NOOP, VRFY, RSET, HELP, EXPN and erroneous commands a session
// may send (each keeps the connection alive) before 421 4.7.0 and Close;
// Postfix's smtpd_junk_command_limit. A delivered message resets the count.
inline constexpr std::size_t kDefaultJunkCommandLimit = 100;
// RFC 5321 §4.5.3.1.10 requires accepting at least 100 recipients.
inline constexpr std::size_t kDefaultMaxRecipients = 100;
// "452 4.5.3 too many recipients" is not counted as an error this many times
// per session (a legitimate client with a long list must not be dropped).
inline constexpr std::size_t kRecipientOvershootLimit = 1000;
// Input held while waiting for a verdict or a delivery; a driver that keeps
// reading while wants_input() is false is cut off here.
inline constexpr std::size_t kMaxPendingInput = 1024 * 1024;
// The SASL name of the one challenge-response mechanism (RFC 7677).
inline constexpr std::string_view kScramMechanism = "SCRAM-SHA-256";

// What a TLS handshake negotiated, in OpenSSL's names.
struct TlsInfo {
  std::string protocol;  // "TLSv1.3"
  std::string cipher;    // "TLS_AES_256_GCM_SHA384"
};

struct Envelope;

// Issue 13: where DATA goes as it arrives. The driver implements this; at
// DATA (before the 354) the session asks for a sink for the transaction so
// far (the envelope without a body). Null: the message cannot be stored now
// and DATA is answered 451 4.3.0 (the transaction stays; RSET or retry).
class BodySinkFactory {
 public:
  virtual ~BodySinkFactory() = default;
  virtual BodySink* open_body(const Envelope& envelope) = 0;
};

struct SessionConfig {
  std::string hostname = "localhost";                  // in the greeting and EHLO
  std::uint64_t max_message_size = 25ull << 20;        // RFC 1870 SIZE; 552 5.3.4 above
  std::size_t max_recipients = kDefaultMaxRecipients;  // 452 4.5.3 above
  bool submission = false;      // the submission listener (the driver's policy uses it)
  bool offer_starttls = false;  // advertise and accept STARTTLS while not in TLS (RFC 3207)
  bool offer_auth = false;      // advertise and accept AUTH (RFC 4954)
  bool offer_scram = false;     // with offer_auth: SCRAM-SHA-256 too ([auth] scram)
  bool plaintext_auth = false;  // PLAIN/LOGIN allowed without TLS ([auth] plaintext_networks)
  // A bare LF ends a command or content line ("normalize", the default; only
  // CRLF.CRLF ends DATA); false: strict, a bare LF is 550 5.5.2 and a drop.
  bool bare_lf_ends_line = true;
  // Non-null: DATA streams into the sink it opens (Envelope::streamed).
  BodySinkFactory* body_sinks = nullptr;
  std::optional<TlsInfo> tls;  // set: implicit TLS (RFC 8314), the session starts encrypted
  std::string session_id;      // for logs
  std::string client_ip;       // for logs
  std::string client_rdns;     // for logs
  unsigned error_delay_after = kDefaultErrorDelayAfter;  // then Delay before every reply
  unsigned error_drop_after = kDefaultErrorDropAfter;    // then 421 4.7.0 and Close
  // Junk commands answered per session ([limits] junk_commands); the next
  // one gets 421 4.7.0 and Close. 0: no limit.
  std::size_t junk_command_limit = kDefaultJunkCommandLimit;
  std::chrono::milliseconds error_delay{1000};
};

// ---- Events (driver -> session) ----

// The connection is up. `pregreet`: bytes the client sent before the greeting
// if the driver waited and looked (early talker): 554 5.5.0 and Close.
struct Connected {
  std::string_view pregreet;
};
// Bytes read from the client (any split; may be empty).
struct Input {
  std::string_view bytes;
};
// The answer to CheckSender: accepted ("250 2.1.0 Ok"), or the refusal
// ("530 5.7.0 Authentication required", "553 5.7.1 ...", "451 4.3.0 ...").
struct SenderChecked {
  bool accepted = false;
  std::string reply;  // the reply line without CRLF; empty: a default reply
};
// The answer to VerifyAuth, ScramFirst and ScramFinal.
// kContinue (SCRAM only): send `challenge` (raw, the session base64-encodes
// it) in a 334 and read the client's next response; after ScramFinal,
// `account` is who logs in once the client acknowledges server-final.
struct AuthChecked {
  enum class Outcome { kOk, kBadCredentials, kTempFailure, kTooManyFailures, kContinue };
  Outcome outcome = Outcome::kBadCredentials;
  std::string account;    // kOk: the account (lower-case address) now logged in
  std::string challenge;  // kContinue: server-first or server-final
};
// Where an accepted recipient's copy goes, as the driver decided at RCPT
// (typed, issue 13): a local mailbox, or an address to relay to.
struct Destination {
  enum class Kind { kMailbox, kRemote };
  Kind kind = Kind::kMailbox;
  std::string domain;   // kMailbox: the mailbox's domain (lower case)
  std::string local;    // kMailbox: its local part
  std::string address;  // kRemote: the forward-path without angle brackets
  static Destination mailbox(std::string domain, std::string local) {
    return Destination{Kind::kMailbox, std::move(domain), std::move(local), {}};
  }
  static Destination remote(std::string address) {
    return Destination{Kind::kRemote, {}, {}, std::move(address)};
  }
  bool is_remote() const { return kind == Kind::kRemote; }
  auto operator<=>(const Destination&) const = default;
  bool operator==(const Destination&) const = default;
};

// The answer to CheckRecipient.
struct RecipientChecked {
  bool accepted = false;
  // The reply line without CRLF, e.g. "250 2.1.5 Ok", "550 5.1.1 <x>: User
  // unknown", "554 5.7.1 <x>: Relay access denied". Empty: a default reply.
  std::string reply;
  // Where its copies go; handed back in the envelope (open_body, Deliver).
  std::vector<Destination> resolved;
};
// The answer to Deliver: the queue id, or the error to answer with
// (its smtp_code/enhanced/message; permanent or temporary).
struct DeliveryDone {
  Result<std::string> queue_id;
};
// The read deadline expired: 421 4.4.2 and Close.
struct Timeout {};
// The peer closed or reset the connection: no actions, state kClosed.
struct PeerClosed {};
// The server is stopping: 421 4.3.2 and Close now, or after the current
// message when in DATA or waiting for a delivery.
struct Shutdown {};
// The answer to StartTls. ok: the handshake succeeded (the session starts
// over in kGreeted, RFC 3207 §4.2); !ok: it failed or timed out, and the
// stream is unusable (Close, no reply).
struct TlsStarted {
  bool ok = false;
  std::string protocol;  // "TLSv1.3"
  std::string cipher;    // "TLS_AES_256_GCM_SHA384"
};

using Event = std::variant<Connected, Input, SenderChecked, RecipientChecked, AuthChecked,
                           DeliveryDone, Timeout, PeerClosed, Shutdown, TlsStarted>;

// ---- Actions (session -> driver) ----

struct EnvelopeRecipient {
  mail::Address address;
  std::vector<Destination> resolved;  // from RecipientChecked
  mail::RcptParameters params;        // NOTIFY=, ORCPT= (RFC 3461)
};

struct Envelope {
  std::string helo;    // the EHLO/HELO argument as sent
  bool esmtp = false;  // EHLO (true) or HELO (false): "with ESMTP" / "with SMTP"
  mail::Address mail_from;
  std::vector<EnvelopeRecipient> recipients;   // accepted ones, in RCPT order
  bool eight_bit_mime = false;                 // BODY=8BITMIME
  bool binary_mime = false;                    // BODY=BINARYMIME (came with BDAT, RFC 3030 §3)
  std::optional<std::uint64_t> declared_size;  // SIZE=
  bool smtputf8 = false;                       // MAIL ... SMTPUTF8 (RFC 6531)
  mail::DsnRet dsn_ret = mail::DsnRet::kUnspecified;  // MAIL ... RET= (RFC 3461 §4.3)
  std::string dsn_envid;  // MAIL ... ENVID=, decoded; "" when absent (RFC 3461 §4.4)
  std::string body;  // the message: CRLF line endings, dots unstuffed (BDAT: bdat_receiver.hpp)
  bool streamed = false;  // the message went to a BodySink; `body` is empty
  std::uint64_t lines = 0;
  std::optional<TlsInfo> tls;  // the session was encrypted when the message came in
  std::string auth_account;    // SMTP AUTH account of the session, "" when none
};

// The RFC 3848 "with" keyword for Received:: SMTP, ESMTP, or ESMTPS when the
// message came over TLS after EHLO; ESMTPA / ESMTPSA after SMTP AUTH; with
// SMTPUTF8 the RFC 6531 §3.7.3 forms UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA.
std::string_view received_protocol(const Envelope& envelope);

// One or more complete reply lines, CRLF included.
struct Reply {
  std::string text;
};
// Wait this long before performing the next action (error flood).
struct Delay {
  std::chrono::milliseconds duration;
};
// Decide whether this client may use this sender, then step(SenderChecked).
struct CheckSender {
  mail::Address sender;
  std::string auth_account;  // "" when the session did not authenticate
  // SIZE= (RFC 1870), within max_message_size: the driver may answer 452
  // 4.3.1 when it does not fit the free storage now (§6.2).
  std::optional<std::uint64_t> declared_size;
  std::string helo;  // the EHLO/HELO argument (the SPF check's %{h} and null-sender identity)
};
// Check credentials (PLAIN or LOGIN), then step(AuthChecked). authzid is
// what PLAIN asked to act as ("" when none).
struct VerifyAuth {
  std::string mechanism;  // "PLAIN" or "LOGIN"
  std::string authzid;
  std::string authcid;
  std::string password;
};
// SCRAM-SHA-256 (RFC 5802): the decoded client-first message; the driver
// parses it, looks the user up, keeps the exchange and answers
// step(AuthChecked{kContinue, server-first}) or a failure.
struct ScramFirst {
  std::string client_first;
};
// The decoded client-final message of the exchange the driver keeps; it
// answers step(AuthChecked{kContinue, server-final, account}) or a failure.
struct ScramFinal {
  std::string client_final;
};
// Decide on a recipient, then step(RecipientChecked).
struct CheckRecipient {
  mail::Address recipient;
  mail::Address sender;
  std::string helo;
  bool binary_mime = false;  // MAIL had BODY=BINARYMIME (tegami keeps such mail local)
};
// Store the message, then step(DeliveryDone).
struct Deliver {
  Envelope envelope;
};
// Flush what was written (the 220 to STARTTLS), run the TLS handshake as the
// server, then step(TlsStarted). Read nothing more from the plain stream.
struct StartTls {};
// Flush what was written and close the connection.
struct Close {};

using Action = std::variant<Reply, Delay, CheckSender, CheckRecipient, VerifyAuth, ScramFirst,
                            ScramFinal, Deliver, StartTls, Close>;
using Actions = std::vector<Action>;

class ServerSession {
 public:
  explicit ServerSession(SessionConfig config);

  Actions step(const Event& event);

  State state() const { return state_; }
  // True when the driver should read and feed Input.
  bool wants_input() const;
  unsigned errors() const { return errors_; }
  std::size_t junk_commands() const { return junk_; }
  const SessionConfig& config() const { return config_; }
  // Set once the session is encrypted (implicit TLS or after STARTTLS).
  const std::optional<TlsInfo>& tls() const { return tls_; }
  // The SMTP AUTH account, "" before (or without) a successful AUTH.
  const std::string& auth_account() const { return account_; }

 private:
  struct Transaction {
    mail::Address sender;
    mail::MailParameters params;
    std::vector<EnvelopeRecipient> recipients;
    std::size_t rcpt_commands = 0;        // RCPT commands in this transaction, whatever their fate
    mail::Address pending;                // the recipient being checked
    mail::RcptParameters pending_params;  // its NOTIFY= and ORCPT=
    bool bdat = false;  // a BDAT chunk was accepted (DATA is 503 now, RFC 3030 §2)
  };

  // server_session.cpp: events and the input loop
  void on_connected(const Connected& e, Actions& out);
  void on_input(const Input& e, Actions& out);
  void on_sender_checked(const SenderChecked& e, Actions& out);
  void on_recipient_checked(const RecipientChecked& e, Actions& out);
  void on_auth_checked(const AuthChecked& e, Actions& out);
  void on_delivery_done(const DeliveryDone& e, Actions& out);
  void on_timeout(Actions& out);
  void on_shutdown(Actions& out);
  void on_tls_started(const TlsStarted& e, Actions& out);

  // Runs the buffered input through the parsers until it is used up, the
  // machine has to wait, or the session closed.
  void process(Actions& out);
  void process_data(Actions& out);
  void process_auth_line(Actions& out);
  void process_bdat(Actions& out);
  void dispatch(Command& cmd, bool more_input, Actions& out);

  // session_commands.cpp (one function per verb group)
  void cmd_hello(const Command& cmd, Actions& out);
  void cmd_mail(const Command& cmd, Actions& out);
  void cmd_rcpt(const Command& cmd, Actions& out);
  void cmd_data(const Command& cmd, Actions& out);
  void cmd_bdat(const Command& cmd, Actions& out);    // session_bdat.cpp
  void cmd_simple(const Command& cmd, Actions& out);  // RSET NOOP VRFY HELP QUIT
  void cmd_starttls(const Command& cmd, Actions& out);
  void cmd_auth(const Command& cmd, Actions& out);
  // One decoded SASL message for the mechanism in progress.
  void auth_message(std::string message, Actions& out);
  void auth_abort(Actions& out, std::string text);
  // "SCRAM-SHA-256 PLAIN LOGIN" or "PLAIN LOGIN", or "" when AUTH is not
  // offered now (not a submission session, or neither TLS nor plaintext_auth).
  std::string auth_mechanisms() const;
  // True when this STARTTLS will be answered 220 (its pipelined followers
  // are then discarded rather than a synchronization error).
  bool starttls_accepted(const Command& cmd) const;
  void out_of_sequence(const Command& cmd, Actions& out);

  // Emits a reply (after a Delay once errors_ reached error_delay_after).
  void reply(Actions& out, std::string text, bool is_error);
  // Emits a last reply, then Close (no delay: the client is leaving anyway).
  void drop(Actions& out, std::string text, std::string_view why);
  void close(Actions& out);
  // Processes input kept while waiting (after a verdict or a delivery).
  void resume(Actions& out);
  void reset_transaction();
  void enter_state(State next);
  // The transaction as an Envelope without a body: a copy (for the
  // BodySinkFactory at DATA), or moved out of the transaction (Deliver).
  void fill_envelope(Envelope& env) const;
  Envelope envelope_without_body() const;
  Deliver take_delivery();
  std::string ehlo_reply() const;

  SessionConfig config_;
  State state_ = State::kStart;
  CommandParser parser_;
  std::unique_ptr<DataReceiver> data_;
  // BDAT: the message being received (kept between chunks), or, for a
  // refused chunk, the octets still to discard, the reply to send after
  // them, the state to return to and whether the transaction ends.
  std::unique_ptr<BdatReceiver> bdat_;
  bool bdat_discard_ = false;
  std::uint64_t bdat_discard_left_ = 0;
  std::string bdat_refusal_;
  bool bdat_refusal_counts_ = true;
  State bdat_return_ = State::kReady;
  // A BDAT transaction failed and no MAIL/RSET came yet: the chunks the
  // client had already pipelined are refused (503) without counting as
  // errors (RFC 3030 §2: the server must be ready to discard them).
  bool bdat_failed_ = false;
  bool streamed_ = false;   // data_ writes into a BodySink
  std::string pending_;     // input not yet processed (only while waiting)
  std::string_view input_;  // the input being processed by process()
  std::string helo_;
  bool esmtp_ = false;
  bool shutdown_pending_ = false;
  std::optional<TlsInfo> tls_;
  // AUTH: the mechanism in progress, LOGIN's user name, the response line
  // being read (kAuthenticating) and whether it overflowed kMaxAuthLine.
  std::string auth_mechanism_;
  std::string auth_login_user_;
  std::string auth_line_;
  bool auth_overflow_ = false;
  // SCRAM: the client messages answered so far (0: expecting client-first,
  // 1: client-final, 2: the empty response to server-final) and the account
  // that logs in at that response.
  unsigned scram_step_ = 0;
  std::string scram_account_;
  std::string account_;
  unsigned errors_ = 0;
  std::size_t junk_ = 0;  // junk commands since the start or the last delivered message
  std::size_t overshoot_ = 0;
  Transaction tx_;
};

}  // namespace tegami::smtp
