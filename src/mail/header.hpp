// Splits an Internet message (RFC 5322 section 2.2, 3.6) into its header
// fields and body, unfolding folded fields (section 2.2.3).
//
// Tolerant by design, because the input is whatever a user saved or a mail
// store kept: CRLF, LF and bare-CR line endings (also mixed), 8-bit bytes,
// an mbox "From " envelope line on top, a missing blank line, a missing
// header. Nothing throws; every line that could not be read as a field is
// named in `problems` (with its line number) instead.
//
// Invariants: `fields` keeps message order (top first); names keep their
// case as written; values are unfolded (line breaks removed, the folding
// whitespace kept) and trimmed at both ends; `body_offset <= input.size()`.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::mail {

// Upper bound on fields kept per message: a bound on memory and time for
// hostile input (real messages carry well under a thousand).
constexpr std::size_t kMaxHeaderFields = 10'000;

struct HeaderField {
  std::string name;      // without the colon, case as written
  std::string value;     // unfolded, trimmed
  std::size_t line = 0;  // 1-based line of the field's first line
};

struct MessageHeader {
  std::vector<HeaderField> fields;
  std::size_t body_offset = 0;        // first byte of the body (input size when none)
  bool has_envelope_line = false;     // an mbox "From " line was skipped
  std::vector<std::string> problems;  // human-readable, one per defect

  // First field with this name (case-insensitive), or nullptr.
  const HeaderField* find(std::string_view name) const;
  // Every field with this name, in message order.
  std::vector<const HeaderField*> find_all(std::string_view name) const;
};

MessageHeader parse_header(std::string_view message);

// RFC 5322 unfolding of one field value: drops CR and LF, keeps whitespace.
std::string unfold(std::string_view folded);

}  // namespace tegami::mail
