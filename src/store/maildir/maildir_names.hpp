// Maildir file names and line endings, pure functions (no I/O).
//
// Names follow the Maildir convention (https://cr.yp.to/proto/maildir.html)
// with the Maildir++ size field and Dovecot's W= field:
//   SECONDS.M<usec>P<pid>Q<counter>.<host>,S=<bytes on disk>,W=<bytes with CRLF>[:2,FLAGS]
// "Base name" is everything before the first ',' or ':'; it never changes
// when a message moves from new/ to cur/, so it serves as the POP3 UIDL
// (RFC 1939 §7: 1..70 characters in 0x21..0x7E).
//
// On disk, lines end in LF (the Maildir convention; what MUAs and other
// servers reading the Maildir expect); on the wire, CRLF (RFC 5322 §2.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tegami::maildir {

inline constexpr std::size_t kMaxUidLength = 70;  // RFC 1939 §7 (UIDL)

// CRLF -> LF. Bare CR and bare LF are kept as they are.
std::string crlf_to_lf(std::string_view wire);
// LF -> CRLF, except where the LF already follows a CR (never doubled). A
// last line without a line end (a foreign file) gets CRLF: POP3 sends whole
// lines (RFC 1939 §3), and the size must count what is sent.
std::string lf_to_crlf(std::string_view disk);
// What lf_to_crlf() appends to complete an unterminated last line: "", "\n"
// (after a CR) or "\r\n".
std::string_view line_completion(std::string_view disk);
// Size lf_to_crlf(disk) would have, without building it.
std::uint64_t crlf_size(std::string_view disk);
// The number of LF bytes not preceded by CR, for incremental counting:
// `prev` is the byte before `chunk` ('\0' at the start of a file).
std::uint64_t lone_lf_count(std::string_view chunk, char prev);

// Host name as it may appear in a file name: '/' ':' ',' '\\' and bytes
// outside 0x21..0x7E become \ooo (octal), as the Maildir spec does for '/'
// and ':'; then cut to `max` characters (never inside an escape).
std::string sanitize_host(std::string_view host, std::size_t max);

// The base name: up to the first ',' or ':'.
std::string_view base_name(std::string_view file_name);
// The POP3 unique id for a file name: its base name when that is 1..70
// characters of 0x21..0x7E; otherwise "X" followed by a 64-bit FNV-1a hash
// of the base name in hex (stable, and valid for foreign Maildirs).
std::string uid_for(std::string_view file_name);
// A stable fallback id from a whole string ("X" + hex hash).
std::string hashed_uid(std::string_view s);

// Value of a ",KEY=<digits>" field in the part before ':', if present.
std::optional<std::uint64_t> size_field(std::string_view file_name, char key);

// The name with the Seen flag: ":2,S" appended, or 'S' added (flags kept in
// ASCII order) when the name already has ":2,FLAGS".
std::string with_seen_flag(std::string_view file_name);

// Sort key: the leading decimal number (delivery time), then the name.
// Names without a leading number sort after all numbered ones.
bool older_first(std::string_view a, std::string_view b);

}  // namespace tegami::maildir
