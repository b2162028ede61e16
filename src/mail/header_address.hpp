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

namespace tegami::mail {

struct HeaderAddress {
  std::string addr_spec;  // "local@domain" as written (no angle brackets), or ""
  std::string domain;     // lower case, or ""
};

// The first mailbox of the field.
HeaderAddress first_address(std::string_view field_value);

}  // namespace tegami::mail
