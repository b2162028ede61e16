// Delivery Status Notifications: the bounce, delay-warning and success
// messages the queue sends back to a message's envelope sender, and the
// postmaster's copies (RFC 3464, RFC 3462 / RFC 6522 multipart/report, RFC
// 3463 status codes, RFC 3834 §5 Auto-Submitted, RFC 3461 §6 DSN
// parameters).
//
// build_dsn() writes a complete message (CRLF line endings, ready for
// delivery with the null reverse-path "<>"), starting with our own
// Received: field (mail/received.hpp format_local_received(), the DSN's
// queue id), like every message tegami originates:
//   multipart/report; report-type=delivery-status
//     1. text/plain — what happened, for humans;
//     2. message/delivery-status — per-message and per-recipient fields
//        (Original-Envelope-Id, Reporting-MTA, Arrival-Date;
//        Original-Recipient, Final-Recipient, Action, Status, Remote-MTA,
//        Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until);
//     3. text/rfc822-headers — the original message's header section, or
//        message/rfc822 — the whole original (return_full; RFC 3461 §4.3
//        RET=FULL, only in a report with a failure).
//
// Actions (RFC 3464 §2.3.3): failed, delayed, delivered (into a local
// mailbox, RFC 3461 §5.3), relayed (to a next hop without DSN, §5.2.2).
// RFC 3461 §6: ENVID becomes Original-Envelope-Id and ORCPT
// Original-Recipient, both decoded (as Postfix and sendmail write them).
// A postmaster notice (a bounce that could not be delivered, or a message
// whose local sender does not exist) goes to the postmaster: its text says
// why, and its Subject starts "Postmaster Copy:".
//
// Diagnostic-Code carries the remote server's reply alone ("smtp; 550 5.1.1
// <x>: User unknown", RFC 3464 §2.3.6); which command it answered ("in reply
// to RCPT TO command") is said in the text part, per recipient. Remote-MTA
// (§2.3.5, mta-name-type "dns") is written only for a host name: a server
// reached by an address literal ("[192.0.2.1]", a route given as an IP) has
// no DNS name, so the optional field is left out and the address is named
// in the text part only.
//
// RFC 6533 (internationalised DSNs): when the sender or a final recipient is
// a UTF-8 address (SMTPUTF8), the report is global: report-type=
// global-delivery-status, a text/plain part in UTF-8, message/global-
// delivery-status with "Final-Recipient: utf-8; ADDRESS" for the UTF-8
// addresses, message/global-headers for the original header section; the
// addresses are kept as printable UTF-8 (To: too). ASCII reports are as above.
//
// Invariants: every line ends in CRLF and is at most 998 octets (RFC 5322
// §2.1.1): long field values are folded, over-long text is cut; values
// taken from the network (diagnostics) were sanitised by the SMTP client and
// are sanitised again here (controls become '?'); the boundary does not
// occur in the content (for return_full, the caller checks the content it
// writes: build_dsn_frame()). Unless return_full, only the original header
// section is returned, never the body (privacy and size; RFC 3462 §2 allows
// either).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::mail {

enum class DsnAction { kFailed, kDelayed, kDelivered, kRelayed };  // RFC 3464 §2.3.3

// Why a report goes to the postmaster instead of the message's sender.
enum class PostmasterNotice {
  kNone,
  kDoubleBounce,   // the message is itself a bounce (sender <>) that failed
  kUnknownSender,  // the message's sender is an unknown address of a local domain
};

struct DsnRecipient {
  using TimePoint = std::chrono::system_clock::time_point;
  std::string final_recipient;  // the address (RFC 3464 §2.3.2, type rfc822)
  // RFC 3464 §2.3.1 Original-Recipient from ORCPT (RFC 3461 §4.2): the
  // address type ("rfc822") and the decoded address; type "": no field.
  std::string original_type;
  std::string original_address;
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
  std::string sender;         // who gets the DSN: the original envelope sender (or the postmaster)
  std::string envid;          // RFC 3461 ENVID (decoded): Original-Envelope-Id; "" when none
  PostmasterNotice notice = PostmasterNotice::kNone;
  std::string original_sender;  // notices: the original message's envelope sender
  TimePoint arrival{};          // when the original was accepted
  TimePoint now{};              // the DSN's Date:
  int offset_minutes = 0;       // our zone, east of UTC
  std::string message_id;       // the DSN's Message-ID, with angle brackets
  std::string boundary;         // MIME boundary; must be unique to this message
  std::vector<DsnRecipient> recipients;
  std::string_view original;  // the original message (CRLF); only its header section is used
  // Part 3 is message/rfc822 (message/global when the report is global)
  // carrying the whole original, which the caller writes itself between
  // build_dsn_frame()'s head and tail; `original` may be just its header.
  bool return_full = false;
  bool full_eight_bit = false;  // return_full: the original has octets above 127
};

// The whole DSN, the original's header section inline (return_full false).
std::string build_dsn(const DsnReport& report);

// The DSN around its third part's content: head ends with that part's
// header and blank line, tail is the closing boundary. Without return_full
// the content is header_section(report.original). The caller writing the
// whole original must make sure it does not contain "--" + boundary()
// (boundary() is what head uses: report.boundary, made unique against
// report.original).
struct DsnFrame {
  std::string head;
  std::string tail;
  std::string boundary;
  bool full = false;  // part 3 is the whole message (return_full in a failure report)
};
DsnFrame build_dsn_frame(const DsnReport& report);

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
