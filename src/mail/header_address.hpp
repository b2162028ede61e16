// The address in an RFC 5322 address field (From, Sender, Return-Path),
// read tolerantly for display and domain comparison, not for delivery:
// RFC 5322 section 3.4 name-addr "Name <local@domain>", bare addr-spec,
// obsolete forms with comments ("local@domain (Name)"), group syntax, and
// the broken shapes spam carries. RFC 5321 paths of the SMTP dialogue are
// parsed strictly elsewhere (mail/address.hpp).
//
// Invariant: domain is lower case without a trailing dot, "" when none.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tegami::mail {

struct HeaderAddress {
  std::string addr_spec;  // "local@domain" as written (no angle brackets), or ""
  std::string domain;     // lower case, or ""
};

// The first mailbox of the field.
HeaderAddress first_address(std::string_view field_value);

// Strict reading of a From: or Sender: field value for policy decisions
// (issue 14: who wrote the message), where a tolerant reading is a hole:
// RFC 5322 section 3.4 address-list (mailbox-list with RFC 6854 group
// syntax when `allow_groups`), with comments, quoted strings, display names
// (encoded words, RFC 2047, are atoms there; RFC 6532 UTF-8 octets are
// atext), obsolete routes inside angle brackets and empty list elements
// (section 4.4). Anything else makes `error` non-empty and the list is not
// to be used: two addresses without a comma ("<a@x> <b@x>", "a@x <b@x>"),
// a word without '@', unbalanced quotes, comments or brackets, nested
// groups, control characters, an empty "<>".
//
// Each address is "local@domain": the local part as written, except that a
// quoted local part whose content is a plain dot-atom is unquoted ("b"@x is
// b@x); dots may repeat or end the local part (addresses of some Japanese
// mobile carriers); the domain is lower case without a trailing dot (a
// domain literal is kept in its brackets).
struct MailboxList {
  std::vector<std::string> addresses;  // every mailbox, group members included, in order
  std::string error;                   // non-empty: malformed (a fixed text, no input echoed)
};
MailboxList parse_mailbox_list(std::string_view field_value, bool allow_groups);

}  // namespace tegami::mail
