// SMTP server session states (DESIGN rule 2) and sets of them for the
// command table (rule 3).
//
// Invariants: the command states are kGreeted, kReady, kMail and kRcpt; the
// machine reads commands only in those. kAuthenticating reads one SASL
// response line (RFC 4954 §4), not a command. kCheckingSender,
// kBdat reads the octets of one BDAT chunk, never a command (RFC 3030 §2).
// kCheckingRecipient, kVerifyingAuth, kDelivering and kStartingTls wait for
// an event from the driver and read nothing (RFC 2920 §3.2: replies stay in
// order because the machine never runs ahead of an unanswered MAIL or RCPT).
//
// RFC 5321 §4.1.4 (order of commands), §3.3 (mail transaction); RFC 3207
// (STARTTLS).
#pragma once

#include <cstdint>
#include <string_view>

namespace tegami::smtp {

enum class State : std::uint8_t {
  kStart,              // before Connected: nothing sent yet
  kGreeted,            // 220 sent; waiting for EHLO/HELO
  kReady,              // EHLO/HELO done; no transaction
  kCheckingSender,     // CheckSender emitted; waiting for SenderChecked
  kMail,               // MAIL accepted; no recipient accepted yet
  kRcpt,               // at least one recipient accepted
  kCheckingRecipient,  // CheckRecipient emitted; waiting for RecipientChecked
  kData,               // 354 sent; reading the message
  kBdat,               // BDAT accepted or refused; reading its chunk-size octets (RFC 3030)
  kDelivering,         // Deliver emitted; waiting for DeliveryDone
  kStartingTls,        // 220 to STARTTLS and StartTls emitted; waiting for TlsStarted
  kAuthenticating,     // 334 sent to AUTH; waiting for the client's response line
  kVerifyingAuth,      // VerifyAuth, ScramFirst or ScramFinal emitted; waiting for AuthChecked
  kClosed,             // Close emitted (or the peer went away)
};

constexpr std::string_view to_string(State s) {
  switch (s) {
    case State::kStart:
      return "start";
    case State::kGreeted:
      return "greeted";
    case State::kReady:
      return "ready";
    case State::kCheckingSender:
      return "checking-sender";
    case State::kMail:
      return "mail";
    case State::kRcpt:
      return "rcpt";
    case State::kCheckingRecipient:
      return "checking-recipient";
    case State::kData:
      return "data";
    case State::kBdat:
      return "bdat";
    case State::kDelivering:
      return "delivering";
    case State::kStartingTls:
      return "starting-tls";
    case State::kAuthenticating:
      return "authenticating";
    case State::kVerifyingAuth:
      return "verifying-auth";
    case State::kClosed:
      return "closed";
  }
  return "?";
}

// A set of states as a bit mask, so the command table can be constexpr.
class StateSet {
 public:
  constexpr StateSet() = default;
  template <class... S>
  constexpr explicit StateSet(S... states) : bits_((bit(states) | ... | 0u)) {}
  constexpr bool contains(State s) const { return (bits_ & bit(s)) != 0; }

 private:
  static constexpr std::uint32_t bit(State s) { return 1u << static_cast<unsigned>(s); }
  std::uint32_t bits_ = 0;
};

// The states in which the machine reads commands.
inline constexpr StateSet kCommandStates{State::kGreeted, State::kReady, State::kMail,
                                         State::kRcpt};

}  // namespace tegami::smtp
