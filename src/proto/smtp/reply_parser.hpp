// Push-style parser for the replies of an SMTP server (the client side of
// RFC 5321 §4.2), DESIGN rule 1.
//
// feed(bytes) consumes input up to the end of the first complete reply (all
// lines of a multi-line "250-..." reply) or all of it, and says how many
// bytes it used; the caller feeds the rest again.
//
// Invariants:
//  - a reply line is "CODE" followed by end of line, SP or '-' and text;
//    CODE is three digits with the first 2-5 and the second 0-5 (RFC 5321
//    §4.2.1, Appendix: reply codes); every line of one reply has the same
//    code, and the last line is the one without '-';
//  - be liberal in what you accept (RFC 5321 §4.1.1.1 grants replies no
//    such freedom, but real servers end lines with a bare LF): a line ends
//    at LF, and one CR before it is dropped;
//  - text keeps only printable US-ASCII and SP: any other byte becomes '?',
//    so reply text can go into logs, DSNs and envelopes without escaping;
//  - memory is bounded: a line over kMaxReplyLineIn octets or a reply over
//    kMaxReplyLines lines is an error (the connection is then abandoned);
//  - the result never depends on how the input was split.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "proto/smtp/command_parser.hpp"

namespace tegami::smtp {

// RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; we accept up to
// four times that because real servers overshoot, and refuse beyond.
inline constexpr std::size_t kMaxReplyLineIn = 2048;
// A bound on multi-line replies (an EHLO reply has a few dozen lines at most).
inline constexpr std::size_t kMaxReplyLines = 128;

struct ServerReply {
  int code = 0;                    // 200..559
  std::vector<std::string> lines;  // the text after "CODE-" / "CODE ", sanitised

  int kind() const { return code / 100; }  // 2, 3, 4 or 5
  bool positive() const { return code >= 200 && code < 400; }
  // The RFC 3463 enhanced status code that starts the first line ("5.1.1"),
  // when present and of the same class as the code; "" otherwise.
  std::string enhanced() const;
  // One line for logs and diagnostics: "550 5.1.1 <x>: unknown user"; the
  // lines of a multi-line reply are joined with a space.
  std::string text() const;
};

enum class ReplyErrorKind {
  kSyntax,        // no valid code, or a bad separator
  kMixedCodes,    // the lines of one reply carry different codes
  kLineTooLong,   // over kMaxReplyLineIn
  kTooManyLines,  // over kMaxReplyLines
};

struct ReplyError {
  ReplyErrorKind kind;
};

std::string_view to_string(ReplyErrorKind kind);

using ReplyResult = std::variant<NeedMore, ServerReply, ReplyError>;

struct ReplyFeed {
  std::size_t consumed = 0;
  ReplyResult result;
};

class ReplyParser {
 public:
  ReplyFeed feed(std::string_view bytes);
  // True while part of a reply is buffered.
  bool mid_reply() const { return !line_.empty() || !pending_.lines.empty(); }

 private:
  // Handles one complete line; returns a reply, an error, or NeedMore.
  ReplyResult finish_line();

  std::string line_;     // the current line, without its line end
  ServerReply pending_;  // the lines of the reply so far
};

}  // namespace tegami::smtp
