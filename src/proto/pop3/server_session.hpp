// The POP3 server state machine, sans I/O (DESIGN rule 2).
//
// ServerSession consumes Events (bytes from the client, answers to the work it
// asked for) and returns Actions (bytes to send, credentials to verify, the
// maildrop to open, a message to read, the UPDATE to commit, close). It never
// blocks, reads files, hashes passwords or sleeps: the driver does, in the
// order the actions are listed, and feeds each answer back as an Event.
//
//   Connected                      -> Reply (greeting, with the APOP timestamp)
//   Input{bytes}                   -> Replies and at most one action needing an answer:
//     VerifyUserPass | VerifyApop | VerifyPlain  -> answer AuthResult
//     OpenMaildrop                               -> answer MaildropOpened
//     ReadMessage                                -> answer MessageData; on ok the
//                                                   step returns the "+OK" Reply and
//                                                   SendMessage (no answer needed)
//     Commit                                     -> answer UpdateDone
//     StartTls                                   -> answer TlsStarted
//   Timeout                        -> Close (RFC 1939 §3: no reply, no UPDATE)
//
// A step returns at most one action that needs an answer, and it is always
// the last action of that step, so a driver may simply perform the actions in
// order and feed the answer of the last one back.
//
// While an answer is outstanding (awaiting() is true) further Input is
// buffered, not processed, and is processed in order once the answer arrives:
// that is how PIPELINING (RFC 2449 §6.6) works by construction. The driver
// should not read from the socket while awaiting() (the buffer is capped at
// kMaxPendingInput; past it the session closes).
//
// States (RFC 1939 §3): Authorization -> Transaction -> Update -> Closed, with
// AwaitSaslResponse during an AUTH exchange (RFC 5034 §4). Every transition
// goes through enter_state(), which logs "pop3 session ID from -> to" (debug).
// Deletions happen only in Update, i.e. after QUIT in Transaction; a session
// that ends any other way (timeout, drop, Close) deletes nothing (RFC 1939 §6).
//
// Responses carry RFC 2449 §8 / RFC 3206 codes: [AUTH] bad credentials,
// [IN-USE] maildrop locked, [SYS/TEMP] storage trouble. Authentication
// failures are reported to the driver as LoginFailed just before the -ERR
// Reply, so the driver can delay that reply per client IP (it knows the IP
// history; the machine does not). Message numbers in the protocol are 1-based;
// indexes in actions and events are 0-based positions in the snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "proto/pop3/command_parser.hpp"

namespace tegami::pop3 {

// CHECKLIST "POP3": three bad commands before login drop the connection.
inline constexpr std::size_t kMaxBadCommandsBeforeLogin = 3;
// Failed authentications per connection before we drop it (as Dovecot's
// login processes do); the per-IP delay is the driver's.
inline constexpr std::size_t kMaxAuthFailures = 3;
// Protocol errors (unknown, bad syntax, wrong state, over-long line) in one
// session before it is dropped: "drop after repeated abuse" (CHECKLIST).
inline constexpr std::size_t kMaxBadCommands = 20;
// Issue 14: commands of any kind (CAPA, USER, NOOP, errors, ...) answered
// before a login; the next one gets -ERR and the connection closes. Each
// keeps the idle timer from running out, so without a bound one client
// could hold a connection slot for ever. RFC 1939 §3 lets the server close
// an AUTHORIZATION session; a real client logs in within a handful.
inline constexpr std::size_t kDefaultMaxCommandsBeforeLogin = 100;
// Input held while an answer is outstanding (pipelined commands, RFC 2449 §6.6).
inline constexpr std::size_t kMaxPendingInput = 64 * 1024;
// RFC 1939 §7 (UIDL): a unique-id is 1 to 70 characters in 0x21..0x7E.
inline constexpr std::size_t kMaxUidLength = 70;

enum class State : std::uint8_t { Authorization, AwaitSaslResponse, Transaction, Update, Closed };
std::string_view to_string(State state);

enum class Mechanism : std::uint8_t { UserPass, Apop, SaslPlain };
std::string_view to_string(Mechanism mechanism);  // "USER", "APOP", "PLAIN"

// Why authentication or opening the maildrop failed.
enum class Failure : std::uint8_t {
  BadCredentials,  // -ERR [AUTH]  (unknown user, wrong password, no APOP secret)
  InUse,           // -ERR [IN-USE] (another session holds the maildrop lock)
  TempFailure,     // -ERR [SYS/TEMP] (directory or storage unavailable)
  // -ERR [SYS/TEMP] and close: the client's network is over the failure
  // limit, refused before any password was checked (issue 14). Not counted
  // as a failure, no LoginFailed.
  TooManyFailures,
};

struct Config {
  std::string session_id;              // appears in the session's log lines
  std::string hostname = "localhost";  // informational: replies name only "tegami"
  bool apop = true;                    // offer APOP: the greeting carries apop_timestamp
  std::string apop_timestamp;          // from make_apop_timestamp(); APOP is off when empty
  bool plaintext_allowed = true;       // USER/PASS and AUTH PLAIN offered (TLS or trusted network)
  bool stls_offered = false;           // STLS in CAPA and accepted (RFC 2595 §4)
  std::string implementation = "tegami";  // CAPA IMPLEMENTATION (RFC 2449 §6.9)
  // Commands answered in AUTHORIZATION ([limits] junk_commands); 0: no limit.
  std::size_t max_commands_before_login = kDefaultMaxCommandsBeforeLogin;
};

// The RFC 1939 §7 APOP banner timestamp "<PID.COUNTER.CLOCK.RANDOM@HOST>",
// unique per connection: pid, a per-process connection counter and the clock
// in decimal, 64 random bits in 16 hex digits. Characters of `host` outside
// [A-Za-z0-9.-] are dropped ("localhost" when nothing remains), so the result
// is always a valid msg-id (RFC 5322 §3.6.4).
std::string make_apop_timestamp(std::uint64_t pid, std::uint64_t counter, std::uint64_t clock,
                                std::uint64_t random, std::string_view host);

// One message of the maildrop snapshot.
struct MessageInfo {
  std::uint64_t size = 0;  // octets RETR sends before dot-stuffing (CRLF line endings)
  std::string uid;         // RFC 1939 §7 unique-id; sanitised if it breaks the rule
  bool operator==(const MessageInfo&) const = default;
};

// ---- Events (what the driver feeds in) ----

struct Connected {};
// Bytes read from the client; the view need only live during step().
struct Input {
  std::string_view bytes;
};
// Answers VerifyUserPass, VerifyApop and VerifyPlain.
struct AuthResult {
  bool ok = false;
  std::string account;  // when ok: the canonical account address (logs, OpenMaildrop)
  Failure failure = Failure::BadCredentials;  // when !ok
};
// Answers OpenMaildrop.
struct MaildropOpened {
  bool ok = false;
  std::vector<MessageInfo> messages;       // when ok: the snapshot, message n is [n-1]
  Failure failure = Failure::TempFailure;  // when !ok: InUse or TempFailure
};
// Answers ReadMessage: the message could be opened (ok) or not. The
// message itself never passes through the machine (issue 13): the driver
// streams it when it performs SendMessage.
struct MessageData {
  std::size_t index = 0;  // 0-based, as in ReadMessage
  bool ok = false;
};
// Answers Commit.
struct UpdateDone {
  bool ok = false;  // false: some deletions failed (-ERR [SYS/TEMP], RFC 1939 §6)
};
// Answers StartTls.
struct TlsStarted {
  bool ok = false;  // false: the handshake failed; the session closes
};
// The idle timer expired (RFC 1939 §3: autologout).
struct Timeout {};

using Event = std::variant<Connected, Input, AuthResult, MaildropOpened, MessageData, UpdateDone,
                           TlsStarted, Timeout>;

// ---- Actions (what the driver performs, in order) ----

// Bytes to send: one or more CRLF-terminated lines.
struct Reply {
  std::string text;
  bool operator==(const Reply&) const = default;
};
// Check USER/PASS (RFC 1939 §7); answer with AuthResult.
struct VerifyUserPass {
  std::string user;
  std::string password;
  bool operator==(const VerifyUserPass&) const = default;
};
// Check MD5(timestamp + secret) == digest in constant time (RFC 1939 §7);
// answer with AuthResult. `digest` is 32 lower-case hex digits.
struct VerifyApop {
  std::string user;
  std::string timestamp;
  std::string digest;
  bool operator==(const VerifyApop&) const = default;
};
// Check SASL PLAIN credentials (RFC 4616); a non-empty authzid different from
// authcid should be refused unless the driver supports proxy authorisation.
// Answer with AuthResult.
struct VerifyPlain {
  std::string authzid;
  std::string authcid;
  std::string password;
  bool operator==(const VerifyPlain&) const = default;
};
// Lock and snapshot the account's maildrop; answer with MaildropOpened.
struct OpenMaildrop {
  std::string account;
  bool operator==(const OpenMaildrop&) const = default;
};
// Open message `index` (0-based) for reading; answer with MessageData.
struct ReadMessage {
  std::size_t index = 0;
  bool operator==(const ReadMessage&) const = default;
};
// Send the message opened for ReadMessage right after the Replies before
// this action: its lines byte-stuffed and the final ".\r\n"
// (MultilineEncoder, message_format.hpp), at most `top_lines` body lines
// when set (TOP). Needs no answer.
struct SendMessage {
  std::size_t index = 0;
  std::optional<std::uint64_t> top_lines;
  bool operator==(const SendMessage&) const = default;
};
// UPDATE (RFC 1939 §6): remove `deleted`, move `retrieved` mail from new/ to
// cur/ (Maildrop::commit); both have one flag per message. Answer with UpdateDone.
struct Commit {
  std::vector<bool> deleted;
  std::vector<bool> retrieved;
  bool operator==(const Commit&) const = default;
};
// Send the Reply before it, then run the TLS handshake; answer with TlsStarted.
// Input already received is dropped by the session (RFC 2595 §4).
struct StartTls {
  bool operator==(const StartTls&) const = default;
};
// An authentication was refused for bad credentials. The driver logs it,
// counts it for the client IP and waits (2 s, doubling to 15 s) before
// performing the next action, which is the -ERR [AUTH] Reply.
struct LoginFailed {
  std::string user;  // as the client sent it: pass through log_safe()
  Mechanism mechanism = Mechanism::UserPass;
  bool operator==(const LoginFailed&) const = default;
};
// Login complete (credentials good, maildrop locked): log it, record the
// POP-before-SMTP grant for the client IP.
struct LoggedIn {
  std::string account;
  Mechanism mechanism = Mechanism::UserPass;
  bool operator==(const LoggedIn&) const = default;
};
// Close the connection after sending every Reply before it.
struct Close {
  bool operator==(const Close&) const = default;
};

using Action =
    std::variant<Reply, VerifyUserPass, VerifyApop, VerifyPlain, OpenMaildrop, ReadMessage,
                 SendMessage, Commit, StartTls, LoginFailed, LoggedIn, Close>;
using Actions = std::vector<Action>;

// What the driver's logout log line reports.
struct SessionStats {
  std::string account;                 // empty until logged in
  std::optional<Mechanism> mechanism;  // set at login
  std::size_t messages = 0;            // in the snapshot at login
  std::size_t retrieved = 0;           // distinct messages sent by RETR (TOP does not count)
  std::size_t deleted = 0;             // messages marked deleted when QUIT committed
  bool committed = false;              // UPDATE ran and succeeded
  std::size_t auth_failures = 0;
  std::size_t bad_commands = 0;
  std::size_t commands_before_login = 0;  // commands and bad lines in AUTHORIZATION
};

class ServerSession {
 public:
  explicit ServerSession(Config config);

  // The one entry point. Returns the actions to perform, in order.
  Actions step(const Event& event);

  State state() const { return state_; }
  // An action's answer is outstanding; Input is buffered meanwhile.
  bool awaiting() const { return awaiting_ != Awaiting::Nothing; }
  const SessionStats& stats() const { return stats_; }

 private:
  enum class Awaiting : std::uint8_t { Nothing, Auth, Maildrop, Message, Update, Tls };

  void enter_state(State to);
  void close(Actions& out);
  void reply(Actions& out, std::string text);
  // -ERR for a protocol error; counts it and closes when there were too many.
  void bad_command(Actions& out, std::string_view text);
  bool expect(Awaiting what, std::string_view event_name);

  // Input handling (server_session.cpp).
  void on_input(std::string_view bytes, Actions& out);
  void run_input(std::string_view bytes, Actions& out);
  void resume(Actions& out);
  void on_parse_error(const ParseError& error, Actions& out);
  // Counts a command line in AUTHORIZATION; past the limit answers -ERR,
  // closes and returns true.
  bool too_many_before_login(Actions& out);
  void on_command(const Command& cmd, Actions& out);
  void on_timeout(Actions& out);
  std::string capabilities() const;

  // AUTHORIZATION (server_session_auth.cpp).
  void on_connected(Actions& out);
  void cmd_user(const Command& cmd, Actions& out);
  void cmd_pass(const Command& cmd, Actions& out);
  void cmd_apop(const Command& cmd, Actions& out);
  void cmd_auth(const Command& cmd, Actions& out);
  void cmd_stls(Actions& out);
  void on_sasl_line(const SaslLine& line, Actions& out);
  void plain_response(std::string_view base64, Actions& out);
  void on_auth_result(const AuthResult& result, Actions& out);
  void on_maildrop_opened(const MaildropOpened& opened, Actions& out);
  void on_tls_started(const TlsStarted& started, Actions& out);

  // TRANSACTION and UPDATE (server_session_transaction.cpp).
  void cmd_stat(Actions& out);
  void cmd_list(const Command& cmd, Actions& out);
  void cmd_uidl(const Command& cmd, Actions& out);
  void cmd_retr_top(const Command& cmd, Actions& out);
  void cmd_dele(const Command& cmd, Actions& out);
  void cmd_rset(Actions& out);
  void cmd_quit_transaction(Actions& out);
  // Parses a message number argument: the 0-based index of a live message, or
  // std::nullopt after replying -ERR.
  std::optional<std::size_t> live_message(std::string_view arg, Actions& out);
  void on_message_data(const MessageData& data, Actions& out);
  void on_update_done(const UpdateDone& done, Actions& out);
  std::string drop_summary() const;  // "N messages (S octets)", not counting deleted

  Config config_;
  State state_ = State::Authorization;
  CommandParser parser_;
  Awaiting awaiting_ = Awaiting::Nothing;
  std::string pending_;         // input received while awaiting, not yet parsed
  bool discard_input_ = false;  // after STLS (until the handshake) and QUIT
  bool greeted_ = false;
  bool plaintext_allowed_;
  bool stls_offered_;
  bool apop_;

  // AUTHORIZATION
  std::optional<std::string> user_;  // USER given, waiting for PASS
  std::string auth_user_;            // the user being verified (for LoginFailed)
  Mechanism auth_mechanism_ = Mechanism::UserPass;

  // TRANSACTION
  std::vector<MessageInfo> messages_;
  std::vector<bool> deleted_;
  std::vector<bool> retrieved_;
  std::size_t reading_ = 0;                 // index of the ReadMessage outstanding
  std::optional<std::uint64_t> top_lines_;  // set when that read is for TOP

  SessionStats stats_;
};

}  // namespace tegami::pop3
