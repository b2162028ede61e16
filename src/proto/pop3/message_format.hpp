// Formatting of a message as a POP3 multi-line response body (RFC 1939 §3).
//
// Each line goes out terminated by CRLF; a line that begins with '.' gets one
// more '.' in front (byte-stuffing); the body ends with ".\r\n". The input may
// have LF (Maildir on disk) or CRLF line endings: one CR before the LF is
// dropped and CRLF sent, so the client never sees a bare line end (a final
// line without any line end is completed with CRLF).
//
// TOP (RFC 1939 §7): with `max_body_lines`, the header section, the blank line
// that ends it, and at most that many body lines are sent. A message without
// a blank line is all header.
//
// MultilineEncoder does this on a stream (issue 13: RETR and TOP never hold
// a whole message): feed() the file in chunks of any size, then finish();
// the output does not depend on how the input was split.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tegami::pop3 {

class MultilineEncoder {
 public:
  explicit MultilineEncoder(std::optional<std::uint64_t> max_body_lines = std::nullopt)
      : max_body_lines_(max_body_lines) {}

  // Appends the stuffed form of `chunk` to `out`. False once TOP's line limit
  // is reached: nothing more of the input is needed.
  bool feed(std::string_view chunk, std::string& out);
  // Completes an unterminated last line and appends ".\r\n".
  void finish(std::string& out);

 private:
  std::optional<std::uint64_t> max_body_lines_;
  std::uint64_t body_lines_ = 0;
  bool in_header_ = true;
  bool line_start_ = true;    // no octet of the current line consumed yet
  bool has_content_ = false;  // an octet of the current line was sent
  bool cr_held_ = false;      // a CR consumed but not sent (it may end the line)
  bool done_ = false;         // TOP's limit reached
};

// Appends the stuffed lines of `message` and the terminating ".\r\n" to `out`.
void append_multiline_message(std::string& out, std::string_view message,
                              std::optional<std::uint64_t> max_body_lines = std::nullopt);

}  // namespace tegami::pop3
