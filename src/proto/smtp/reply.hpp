// Building SMTP replies.
//
// Invariants: every reply this module returns is one or more complete lines
// "CODE[ -]text CRLF"; text from anywhere (configuration, verdicts, error
// messages) has CR, LF and other control or 8-bit bytes replaced by '?', so
// tegami never emits a bare line ending (CHECKLIST: outbound), and each line
// fits kMaxReplyLine.
//
// RFC 5321 §4.2 (reply syntax, multi-line "250-"), §4.5.3.1.5 (512 octets),
// RFC 2034 §4 / RFC 3463 (enhanced status codes).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::smtp {

// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including CRLF.
inline constexpr std::size_t kMaxReplyLine = 512;

// "CODE ENHANCED text\r\n" (or "CODE text\r\n" when `enhanced` is empty).
std::string format_reply(int code, std::string_view enhanced, std::string_view text);

// "CODE-line1\r\n" ... "CODE lineN\r\n"; an empty list gives "CODE \r\n".
std::string format_multiline(int code, const std::vector<std::string>& lines);

// A reply line given as text, e.g. a policy verdict "550 5.1.1 <x>: unknown":
// sanitised and given its CRLF. Anything not starting with a 2xx-5xx code
// becomes "451 4.3.0 " + text (unknown is temporary, DESIGN rule 6).
std::string reply_line(std::string_view text);

// The reply code of a formatted reply ("250 ..." -> 250), 0 if none.
int reply_code(std::string_view reply);

// Replaces CR, LF, other controls and 8-bit bytes with '?' and truncates to `max`.
std::string sanitize_reply_text(std::string_view text, std::size_t max = kMaxReplyLine - 16);

}  // namespace tegami::smtp
