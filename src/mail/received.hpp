// The Received: trace field (RFC 5321 section 4.4, RFC 5322 section 3.6.7):
// a tolerant parser for what MTAs really write, and the formatter tegami's
// own SMTP server stamps messages with.
//
// RFC 5321 gives the grammar "from ... by ... via ... with ... id ... for
// ... ; date", but real fields bend it: clauses missing or out of order,
// free text ("with Microsoft SMTP Server id 15.20 via Frontend Transport"),
// ';' inside the clauses, no ';' at all, text after the date, and the sending
// host described in comments whose layout differs per MTA
// (docs/trace.md lists the forms; tests/unit/mail/received_test.cpp has one
// test per form). The parser therefore never fails: it fills what it can
// read and names the rest in `problems`.
//
// Invariants: keywords are recognised only as whole tokens outside comments
// ("mail.company.by" is a host, not a clause), each clause at most once, and
// "from" only as the first clause; IPs are canonical (normalize_ip); host
// names lose one trailing dot. No Debian library parses Received:, hence
// this hand-written parser (docs/trace.md).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mail/date.hpp"

namespace tegami::mail {

struct Received {
  bool has_from = false;            // a "from" clause was present
  bool has_by = false;              // a "by" clause was present
  std::string helo;                 // what the client said in HELO/EHLO, as recorded
  std::string from_host;            // the sender's name as the receiver recorded it (rDNS), or ""
  std::string from_ip;              // canonical sending IP, or ""
  std::string from_ident;           // ident / account / user@ part, or ""
  bool rdns_may_be_forged = false;  // Sendmail's "(may be forged)"
  std::string by_host;
  std::string by_ip;  // canonical, when the receiver recorded its own address
  std::string via;
  std::string with;  // the protocol ("ESMTPSA"), or the free text after "with"
  std::string id;
  std::string for_addr;
  std::string date_text;  // the text the date was read from
  std::optional<DateTime> date;
  std::optional<bool> tls;            // null: the field does not say
  std::optional<bool> authenticated;  // null: the field does not say
  std::vector<std::string> comments;  // every top-level comment, without parentheses
  std::vector<std::string> problems;  // what could not be read
};

Received parse_received(std::string_view value);

// True when the protocol keyword is one of RFC 3848 / RFC 6531 "with" types
// (SMTP, ESMTPSA, UTF8LMTPS...), HTTP(S) or SMTPS.
bool is_known_protocol(std::string_view word);

// What tegami's SMTP server knows about a received message.
struct ReceivedStamp {
  std::string helo;      // as the client sent it; sanitised by the formatter
  std::string rdns;      // verified reverse DNS name, "" when none ("unknown")
  std::string ip;        // client IP, textual
  std::string by_host;   // our hostname
  std::string protocol;  // "ESMTP", "ESMTPS", "ESMTPSA", "SMTP"...
  std::string tls_info;  // "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384", "" without TLS
  std::string id;        // queue id
  std::string for_addr;  // the recipient, only when there is exactly one ("" otherwise)
  // The SMTP AUTH account, written as "(Authenticated sender: X)" only when
  // the operator asks for it ([auth] authenticated_header); "" otherwise.
  std::string authenticated;
  std::chrono::system_clock::time_point time;
  int offset_minutes = 0;  // the server's zone, east of UTC
};

// "from HELO (RDNS [IP]) by HOST (tegami) with ESMTP id ID for <RCPT>; DATE",
// folded with CRLF+TAB before "by", "with" and "for" so no line exceeds
// RFC 5322's 78-character guideline for ordinary names. The result is the
// field value, without "Received: " and without the final CRLF. Client-
// supplied text cannot break the syntax: control bytes, 8-bit bytes,
// parentheses, backslashes, '<', '>' and ';' in it become '?'.
std::string format_received(const ReceivedStamp& stamp);

// What tegami knows about a message it writes itself (a bounce, a delay
// warning): no SMTP client, so no HELO, address or protocol.
struct LocalStamp {
  std::string by_host;  // our hostname
  std::string id;       // the new message's queue id
  std::chrono::system_clock::time_point time;
  int offset_minutes = 0;  // the server's zone, east of UTC
};

// "from localhost\r\n\tby HOST (tegami) id ID; DATE": the same layout as
// format_received() (folded before "by", same sanitising, same "(tegami)"
// comment) so that parse_received() and `tegami trace` read it like any of our
// fields. "localhost" says the message was made on this host (RFC 5321 §4.4
// requires a From-domain; RFC 5322 §3.6.7 allows any tokens); there is no
// "with" clause because no protocol carried it. The value, without
// "Received: " and without the final CRLF.
std::string format_local_received(const LocalStamp& stamp);

}  // namespace tegami::mail
