// What the SMTP client puts on the wire after "354" or "BDAT": the message
// made safe for DATA (RFC 5321 §4.1.1.4, §4.5.2) or put in the canonical
// form BDAT carries (RFC 3030 §2).
//
// Invariants (CHECKLIST "Outbound, never emit a bare CR or LF, and always
// dot-stuff"): the output contains no CR that is not followed by LF and no
// LF that is not preceded by CR; for DATA every line that starts with '.'
// gets one more '.', and the output ends with exactly one "CRLF.CRLF"
// terminator, so no byte sequence of the message can end the DATA early
// (SMTP smuggling). No NUL octet is ever emitted (issue 14): the receivers
// refuse messages with one since then, so only a message queued before that
// can hold one; it is dropped, which keeps the text and cannot make a line
// start with an unstuffed dot. The result never depends on how the input is
// split.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tegami::smtp {

// The streaming form (issue 13: a queued message is sent from its file in
// pieces): feed the message with encode() in pieces of any size, then
// finish(). Each CRLF, bare CR and bare LF becomes CRLF (a CR and the LF
// after it count once, also across pieces); kData doubles leading dots and
// ends with ".\r\n"; a final CRLF is added when the message lacks one.
class WireEncoder {
 public:
  enum class Mode { kData, kBdat };
  explicit WireEncoder(Mode mode) : dot_stuff_(mode == Mode::kData) {}

  // Appends the encoded form of `in` to `out`; with `out` null only counts.
  void encode(std::string_view in, std::string* out);
  // Appends the end: the missing final CRLF and, for DATA, ".\r\n".
  void finish(std::string* out);
  // Octets produced so far (what encode/finish appended or would have).
  std::uint64_t produced() const { return produced_; }

 private:
  void put(std::string_view s, std::string* out);

  bool dot_stuff_;
  bool line_start_ = true;
  bool skip_lf_ = false;  // the last octet was a CR, already written as CRLF
  std::uint64_t produced_ = 0;
};

// `message` with each CRLF, bare CR and bare LF written as CRLF, leading dots
// doubled (RFC 5321 §4.5.2), a final CRLF added when missing, then ".\r\n".
std::string encode_data(std::string_view message);

// RFC 3030 §2: "BDAT <n> LAST" CRLF, then the n octets of `message` in
// canonical form: each CRLF, bare CR and bare LF written as CRLF, a final
// CRLF added when missing, no dot-stuffing (a chunk has no terminator, so
// nothing in it can end the message or be read as a command).
std::string encode_bdat(std::string_view message);

// True when `message` has an octet above 127: sending it needs a server that
// offers 8BITMIME (RFC 6152 §3).
bool has_eight_bit(std::string_view message);

// True when the header section of `message` (up to the first empty line)
// has an octet above 127: RFC 6532 UTF-8 headers, which only an SMTPUTF8
// server may receive (RFC 6531 §3.2).
bool has_eight_bit_headers(std::string_view message);

}  // namespace tegami::smtp
