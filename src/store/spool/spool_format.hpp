// The text form of a queue envelope (docs/queue-format.md): one "key value"
// per line, a version line first and "end" last, so a reader can tell a
// whole file from a truncated one and an operator can read it with `cat`.
//
// Invariants: format_envelope() output always parses back to the same entry
// (times at one-second resolution); values are escaped so that no value can
// contain a line break: CR, LF, other control bytes, 8-bit bytes and '%'
// become %XX. parse_envelope() is strict: an unknown key, a repeated key, a
// bad number, a missing "end" or anything after it is a permanent Error
// naming the line, never a half-read entry.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"
#include "store/queue_store.hpp"

namespace tegami::spool {

// The first line of every envelope file; the number is the format version.
inline constexpr std::string_view kEnvelopeMagic = "tegami-queue 1";

std::string format_envelope(const QueueEntry& entry);
Result<QueueEntry> parse_envelope(std::string_view text);

// %XX-escaping of CR, LF, controls, DEL, 8-bit bytes and '%' (exposed for tests).
std::string escape_value(std::string_view v);
Result<std::string> unescape_value(std::string_view v);

}  // namespace tegami::spool
