// The DATA phase receiver (DESIGN rule 1): dot-unstuffing, strict
// CRLF.CRLF termination, the text-line limit and the size cap.
//
// Output: the message is appended to an internal std::string with CRLF line
// endings and the transparency dots removed; take it with take_body() after
// DataComplete. (Streaming to a sink can replace this later without changing
// feed().)
//
// Invariants:
//  - the only terminator is CRLF "." CRLF, where the first CRLF may be the
//    implicit line start right after the 354 reply (an empty message);
//    every smuggling variant (CHECKLIST: "\n.\n", "\r.\r", "\r\n.\r\r\n", ...)
//    either is data or hits the bare-line-ending error first;
//  - a CR not followed by LF is fatal at once (550 5.5.2, the session drops:
//    the stream cannot be resynchronised);
//  - an LF not preceded by CR: in the default "normalize" mode (Postfix
//    3.9's smtpd_forbid_bare_newline = normalize) it ends a content line,
//    stored as CRLF; a line "." is the terminator only when both its start
//    and its end are CRLF, so "\n.\n", "\r\n.\n" and "\n.\r\n" are a content
//    line holding one dot (stored as ".", dot-stuffed again when relayed).
//    In strict mode it is fatal like a bare CR;
//  - a line over kMaxTextLine, a NUL octet (issue 14: a next hop that drops
//    NUL before it looks for the end of data would see "\r\n\0.\r\n" as
//    one) or a message over max_size is never truncated: storing stops (the
//    sink is abandoned), consuming continues to the terminator, then the
//    message is rejected (554 5.6.0 resp. 552 5.3.4); past hard_limit() the
//    session drops;
//  - memory is bounded by max_size (plus one read).
//
// RFC 5321 §4.1.1.4 (DATA), §4.5.2 (transparency), §4.5.3.1.6 (1000-octet
// text lines), RFC 1870 §6 (size), RFC 3463 (5.3.4, 5.6.0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "proto/smtp/command_parser.hpp"  // NeedMore

namespace tegami::smtp {

// RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF.
inline constexpr std::size_t kMaxTextLine = 1000;
// RFC 1870 §6: after the size is exceeded we keep reading (so the client sees
// our 552 instead of a reset) but only for this many extra octets at least, or
// max_size extra when that is larger; then we drop.
inline constexpr std::uint64_t kMinDiscardAllowance = 10ull * 1024 * 1024;

// Where a streamed message goes (issue 13): the receiver hands the unstuffed
// message (CRLF line endings) over in pieces of up to kSinkChunk octets, so
// memory stays bounded whatever the size. abandon(): the message will be
// refused (over the size or line limit) or its transaction ended: what was
// written may go at once; `why` is for the log.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual void write(std::string_view crlf) = 0;
  virtual void abandon(std::string_view why) = 0;
};
inline constexpr std::size_t kSinkChunk = 64 * 1024;

struct DataComplete {};

enum class DataErrorKind {
  kBareLineEnding,  // 550 5.5.2, drop; reported at once
  kLineTooLong,     // 554 5.6.0; reported at the terminator
  kNul,             // 554 5.6.0; reported at the terminator
  kTooBig,          // 552 5.3.4; reported at the terminator
  kTooBigDrop,      // 552 5.3.4, drop; reported once past hard_limit()
};

struct DataError {
  DataErrorKind kind;
};

std::string_view error_reply(DataErrorKind kind);
bool error_drops(DataErrorKind kind);

using DataResult = std::variant<NeedMore, DataComplete, DataError>;

struct DataFeed {
  std::size_t consumed = 0;
  DataResult result;
};

class DataReceiver {
 public:
  // `max_size`: the largest message (unstuffed octets, CRLF counted) accepted.
  // `expected_size`: the client's SIZE= hint, used only to reserve memory.
  // `bare_lf_ends_line`: the "normalize" mode (see above); false: strict.
  // `sink`: the message goes there as it arrives (take_body() stays empty);
  // null: it is collected in memory for take_body().
  explicit DataReceiver(std::uint64_t max_size, std::uint64_t expected_size = 0,
                        bool bare_lf_ends_line = true, BodySink* sink = nullptr);

  // Consumes bytes up to and including the terminator (or all of them).
  // After DataComplete or a DataError the receiver must not be fed again.
  DataFeed feed(std::string_view bytes);

  std::string take_body() { return std::move(body_); }
  std::uint64_t size() const { return size_; }          // unstuffed octets seen
  std::uint64_t lines() const { return lines_; }        // complete lines seen
  std::uint64_t bare_lfs() const { return bare_lfs_; }  // lines ended by a bare LF
  std::uint64_t hard_limit() const { return hard_limit_; }

 private:
  enum class Pos : std::uint8_t {
    kLineStart,  // at the start of a line
    kDot,        // read "." at the start of a line
    kDotCr,      // read ".\r" at the start of a line
    kInLine,     // inside a line
    kCr,         // read "\r" inside a line
  };

  void append(std::string_view bytes);
  void end_line();
  void store(std::string_view bytes);  // into body_ (and on to the sink)
  void next_line(bool by_crlf);        // a line ended (by CRLF, or a bare LF)
  void stop_storing();                 // over a limit: nothing more is kept
  bool storing() const { return !too_big_ && !line_too_long_ && !nul_; }

  std::uint64_t max_size_;
  std::uint64_t hard_limit_;
  std::string body_;
  std::uint64_t size_ = 0;
  std::uint64_t lines_ = 0;
  std::size_t line_length_ = 0;  // unstuffed octets of the current line, without CRLF
  bool line_too_long_ = false;
  bool too_big_ = false;
  bool nul_ = false;  // a NUL octet was seen
  Pos pos_ = Pos::kLineStart;
  bool bare_lf_ = true;  // a bare LF ends a line (else: fatal)
  BodySink* sink_ = nullptr;
  bool line_after_crlf_ = true;  // the current line began after a CRLF (or is the first)
  std::uint64_t bare_lfs_ = 0;
};

}  // namespace tegami::smtp
