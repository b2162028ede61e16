// Push-style SMTP command line parser (DESIGN rule 1).
//
// feed(bytes) consumes at most one command line and says how many bytes it
// used; the caller feeds the rest again. Partial lines are kept internally,
// bounded by kMaxCommandLine: an over-long line is discarded up to its CRLF
// (memory stays bounded) and reported once, when its CRLF arrives, so replies
// stay in order under pipelining.
//
// Invariants:
//  - a line ends with CRLF; a CR not followed by LF is a fatal "bare line
//    ending" error (CHECKLIST: SMTP smuggling) reported as soon as it is
//    seen; an LF not preceded by CR ends the line too in the default
//    "normalize" mode (as Postfix 3.9's smtpd_forbid_bare_newline =
//    normalize), and is the same fatal error in strict mode;
//  - a Command's text contains only printable US-ASCII and SP (NUL, other
//    controls and 8-bit bytes make the line an error, RFC 5321 §2.3.1/§4.1.1),
//    except that MAIL and RCPT may carry octets above 127: SMTPUTF8 paths
//    (RFC 6531 §3.3), checked by the address parser;
//  - the result never depends on how the input was split.
//
// RFC 5321 §2.3.8 (CRLF), §4.1.1 (command syntax), §4.5.3.1.4 (512 octets;
// kMaxMailRcptLine for MAIL and RCPT, kMaxAuthLine for AUTH).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "proto/smtp/commands.hpp"

namespace tegami::smtp {

// A command's arguments without the SP around them (RFC 5321 §4.1.1: the
// separator is SP; tabs and other white space are not trimmed).
inline std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
inline constexpr std::size_t kMaxCommandLine = 512;
// RFC 4954 §4: an AUTH command line (with its initial response) or a SASL
// response line may be 12288 octets long, CRLF included.
inline constexpr std::size_t kMaxAuthLine = 12288;
// MAIL and RCPT lines grow with their parameters (RFC 5321 §4.5.3.1.4:
// "SMTP extensions may be used to increase this limit"; RFC 1869 §4.1.2):
// RFC 3461 §4 adds up to 500 for ORCPT and NOTIFY on RCPT and 100 for
// ENVID (with RET) on MAIL, RFC 1870 SIZE and RFC 6152 BODY a few more.
// 1024 covers the longest legitimate line of either with room to spare.
inline constexpr std::size_t kMaxMailRcptLine = 1024;

// Returned when the input ended before a complete line (or DATA terminator).
struct NeedMore {};

struct Command {
  Verb verb = Verb::kUnknown;
  const CommandSpec* spec = nullptr;  // nullptr for kUnknown
  std::string name;                   // the verb as sent (for logs and replies)
  std::string args;                   // everything after the first SP, as sent
};

enum class CommandErrorKind {
  kBareLineEnding,  // 550 5.5.2, then drop
  kLineTooLong,     // 500 5.5.2
  kAuthTooLong,     // 500 5.5.6 (an AUTH line over kMaxAuthLine)
  kInvalidByte,     // 500 5.5.2 (NUL, control or 8-bit byte)
  kNonSmtp,         // HTTP verb or "Header:" line: 221 2.7.0, then drop
};

struct CommandError {
  CommandErrorKind kind;
};

// The reply line (with CRLF) for an error and whether the session must drop.
std::string_view error_reply(CommandErrorKind kind);
bool error_drops(CommandErrorKind kind);

using CommandResult = std::variant<NeedMore, Command, CommandError>;

struct CommandFeed {
  std::size_t consumed = 0;
  CommandResult result;
};

class CommandParser {
 public:
  // `bare_lf_ends_line`: the "normalize" mode (see above); false: strict.
  explicit CommandParser(bool bare_lf_ends_line = true) : bare_lf_(bare_lf_ends_line) {}

  // Consumes bytes up to the end of the first complete line (or all of them
  // when no line completes) and returns what that line was.
  CommandFeed feed(std::string_view bytes);

  // Forgets any partial line (e.g. after a fatal error).
  void reset();

  // True while a partial line is buffered.
  bool mid_line() const { return !line_.empty() || cr_ || overflow_; }

 private:
  CommandResult finish_line();

  std::string line_;        // the current line without CRLF; at most kMaxCommandLine - 2
  std::size_t length_ = 0;  // octets of the current line seen so far (even when discarded)
  bool cr_ = false;         // the last byte seen was CR
  bool overflow_ = false;   // the line exceeded its limit; discarding to CRLF
  bool auth_line_ = false;  // the line is an AUTH command (limit kMaxAuthLine)
  bool path_line_ = false;  // the line is a MAIL or RCPT command (limit kMaxMailRcptLine)
  bool bad_byte_ = false;   // the line contains NUL or a control byte
  bool eight_bit_ = false;  // the line contains an octet above 127
  bool bare_lf_ = true;     // a bare LF ends the line (else: fatal error)
};

// Splits a complete line (without CRLF) into a Command or a kNonSmtp error.
// Exposed for tests.
CommandResult classify_line(std::string_view line);

}  // namespace tegami::smtp
