// Delivery Status Notifications: the bounce and delay-warning messages the
// queue sends back to a message's envelope sender (RFC 3464, RFC 3462 /
// RFC 6522 multipart/report, RFC 3463 status codes, RFC 3834 §5
// Auto-Submitted).
//
// build_dsn() writes a complete message (CRLF line endings, ready for
// delivery with the null reverse-path "<>"), starting with our own
// Received: field (mail/received.hpp format_local_received(), the DSN's
// queue id), like every message tegami originates:
//   multipart/report; report-type=delivery-status
//     1. text/plain — what happened, for humans;
//     2. message/delivery-status — per-message and per-recipient fields
//        (Reporting-MTA, Arrival-Date; Final-Recipient, Action, Status,
//        Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until);
//     3. text/rfc822-headers — the original message's header section.
//
// Diagnostic-Code carries the remote server's reply alone ("smtp; 550 5.1.1
// <x>: User unknown", RFC 3464 §2.3.6); which command it answered ("in reply
// to RCPT TO command") is said in the text part, per recipient. Remote-MTA
// (§2.3.5, mta-name-type "dns") is written only for a host name: a server
// reached by an address literal ("[192.0.2.1]", a route given as an IP) has
// no DNS name, so the optional field is left out and the address is named
// in the text part only.
//
// Invariants: every line ends in CRLF and is at most 998 octets (RFC 5322
// §2.1.1): long field values are folded, over-long text is cut; values
// taken from the network (diagnostics) were sanitised by the SMTP client and
// are sanitised again here (controls become '?'); the boundary does not
// occur in the content. Only the original header section is returned, never
// the body (privacy and size; RFC 3462 §2 allows either).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::mail {

enum class DsnAction { kFailed, kDelayed };  // RFC 3464 §2.3.3

struct DsnRecipient {
  using TimePoint = std::chrono::system_clock::time_point;
  std::string final_recipient;  // the address (RFC 3464 §2.3.2, type rfc822)
  DsnAction action = DsnAction::kFailed;
  std::string status;  // RFC 3463 "5.1.1"; derived from `action` when empty or malformed
  // The server that answered: its host name, or an address literal
  // "[192.0.2.1]" when it was reached without one; "" when none answered.
  std::string remote_mta;
  std::string diagnostic;  // "smtp; 550 5.1.1 ..." or "X-Tegami; ...", "" when none
  // The command an "smtp;" diagnostic answered ("RCPT TO", "end of data",
  // "greeting"...), for the text part; "" when unknown or not a reply.
  std::string stage;
  TimePoint last_attempt{};                   // epoch: never attempted
  std::optional<TimePoint> will_retry_until;  // delayed: when the queue gives up
};

struct DsnReport {
  using TimePoint = std::chrono::system_clock::time_point;
  std::string reporting_mta;  // our host name
  std::string queue_id;       // the original message's queue id
  std::string dsn_id;         // the DSN's own queue id (its Received: id); may be ""
  std::string sender;         // the original envelope sender: the DSN's recipient
  TimePoint arrival{};        // when the original was accepted
  TimePoint now{};            // the DSN's Date:
  int offset_minutes = 0;     // our zone, east of UTC
  std::string message_id;     // the DSN's Message-ID, with angle brackets
  std::string boundary;       // MIME boundary; must be unique to this message
  std::vector<DsnRecipient> recipients;
  std::string_view original;  // the original message (CRLF); only its header section is used
};

std::string build_dsn(const DsnReport& report);

// The header section of `message`: everything before the first empty line
// (the whole message when there is none), line endings as they are.
std::string_view header_section(std::string_view message);

// "in reply to RCPT TO command" for a stage of DsnRecipient (Postfix's
// wording); "" for an empty stage.
std::string in_reply_to(std::string_view stage);

// True when `remote_mta` is a host name that may follow "dns;" (not empty,
// not an address literal "[...]" nor a bare IP address).
bool is_dns_name(std::string_view remote_mta);

// `value` folded (RFC 5322 §2.2.3) at spaces so that "Name: value" lines stay
// within 78 octets where possible and never exceed 998; no trailing CRLF.
std::string fold_field(std::string_view name, std::string_view value);

}  // namespace tegami::mail
