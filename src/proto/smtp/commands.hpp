// The SMTP command table (DESIGN rule 3): one constexpr row per verb with the
// states it is accepted in, whether it may precede STARTTLS, and whether it
// must end a pipelined group.
//
// Invariants: verbs are matched case-insensitively (RFC 5321 §2.4); a verb not
// in the table is Verb::kUnknown. `implemented == false` verbs are recognised
// so that they get "502 5.5.1" instead of "500 5.5.2".
//
// RFC 5321 §4.1 (commands), RFC 2920 §3.1 (EHLO, DATA, QUIT end a group;
// we also end it at HELO and STARTTLS, RFC 3207 §4.2), RFC 3030 (BDAT),
// RFC 4954 (AUTH), RFC 1985 (ETRN).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "proto/smtp/state.hpp"

namespace tegami::smtp {

enum class Verb : std::uint8_t {
  kUnknown,
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kHelp,
  kStarttls,
  kAuth,
  kBdat,
  kExpn,
  kEtrn,
};

struct CommandSpec {
  std::string_view name;  // upper case, as in RFC 5321
  Verb verb;
  StateSet allowed;  // other command states answer 503 5.5.1 (RFC 5321 §4.1.4)
  bool pre_tls;      // allowed before STARTTLS where TLS is required (RFC 3207 §4)
  bool ends_group;   // nothing may follow it in the same pipelined group (RFC 2920 §3.1)
  bool implemented;  // false: answered 502 5.5.1 (RFC 5321 §4.2.4)
};

namespace detail {
inline constexpr StateSet kAny{State::kGreeted, State::kReady, State::kMail, State::kRcpt};
inline constexpr StateSet kNoTransaction{State::kGreeted, State::kReady};
inline constexpr StateSet kReadyOnly{State::kReady};
inline constexpr StateSet kInTransaction{State::kMail, State::kRcpt};
inline constexpr StateSet kHaveRecipient{State::kRcpt};
}  // namespace detail

inline constexpr std::array<CommandSpec, 15> kCommands{{
    // name       verb             allowed                    pre_tls ends   impl
    {"EHLO", Verb::kEhlo, detail::kAny, true, true, true},
    {"HELO", Verb::kHelo, detail::kAny, true, true, true},
    {"MAIL", Verb::kMail, detail::kReadyOnly, false, false, true},
    {"RCPT", Verb::kRcpt, detail::kInTransaction, false, false, true},
    {"DATA", Verb::kData, detail::kHaveRecipient, false, true, true},
    {"RSET", Verb::kRset, detail::kAny, true, false, true},
    {"NOOP", Verb::kNoop, detail::kAny, true, false, true},
    {"QUIT", Verb::kQuit, detail::kAny, true, true, true},
    {"VRFY", Verb::kVrfy, detail::kAny, false, false, true},
    {"HELP", Verb::kHelp, detail::kAny, false, false, true},
    {"STARTTLS", Verb::kStarttls, detail::kNoTransaction, true, true, true},
    {"AUTH", Verb::kAuth, detail::kReadyOnly, false, false, true},
    // BDAT is taken in every command state: out of sequence it is refused
    // only after its chunk was read (RFC 3030 §2), in cmd_bdat.
    {"BDAT", Verb::kBdat, detail::kAny, false, false, true},
    {"EXPN", Verb::kExpn, detail::kAny, false, false, false},
    {"ETRN", Verb::kEtrn, detail::kReadyOnly, false, false, false},
}};

// The row for `name` (case-insensitive), or nullptr.
constexpr const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : kCommands) {
    if (c.name.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      char ch = name[i];
      if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
      same = ch == c.name[i];
    }
    if (same) return &c;
  }
  return nullptr;
}

constexpr const CommandSpec& command_spec(Verb v) {
  for (const auto& c : kCommands) {
    if (c.verb == v) return c;
  }
  return kCommands[0];  // unreachable for verbs in the table
}

}  // namespace tegami::smtp
