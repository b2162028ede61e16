// Formatting of a message as a POP3 multi-line response body (RFC 1939 §3).
//
// Each line goes out terminated by CRLF; a line that begins with '.' gets one
// more '.' in front (byte-stuffing); the body ends with ".\r\n". The input
// should already have CRLF line endings (the Maildrop contract); a bare LF is
// still sent as CRLF so the client never sees a bare line end (a final line
// without any line end is completed with CRLF).
//
// TOP (RFC 1939 §7): with `max_body_lines`, the header section, the blank line
// that ends it, and at most that many body lines are sent. A message without
// a blank line is all header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tegami::pop3 {

// Appends the stuffed lines of `message` and the terminating ".\r\n" to `out`.
void append_multiline_message(std::string& out, std::string_view message,
                              std::optional<std::uint64_t> max_body_lines = std::nullopt);

}  // namespace tegami::pop3
