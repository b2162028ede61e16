// The SMTP DSN extension's parameters (RFC 3461): RET and ENVID on MAIL,
// NOTIFY and ORCPT on RCPT, their xtext encoding, and what a recipient's
// NOTIFY asks for.
//
// Invariants:
//  - the parsers are strict (RFC 3461 §4): a value that breaks the grammar
//    is a permanent Error 501 5.5.4, never half-accepted:
//      NOTIFY = "NEVER" / 1#("SUCCESS" / "FAILURE" / "DELAY")  (§4.1; NEVER
//               stands alone; keywords are case-insensitive)
//      ORCPT  = addr-type ";" xtext, at most kMaxOrcpt characters (§4.2)
//      RET    = "FULL" / "HDRS" (§4.3)
//      ENVID  = xtext, at most kMaxEnvid characters (§4.4)
//  - xtext (§4): xchar is "!".."~" except "+" and "="; hexchar is "+" and two
//    hexadecimal digits (upper case on the wire; lower case is accepted when
//    reading, and never written);
//  - decoded values kept from the network hold printable US-ASCII only
//    (ENVID: also SP, §4.4 "printable (graphic and white space)"; ORCPT:
//    graphic characters), so they may go into DSN header fields (RFC 3464
//    Original-Envelope-Id, Original-Recipient) without any further check;
//  - xtext_encode() output always decodes back to its input.
//
// RFC 3461 §4 (parameters and xtext), §4.1-§4.4; RFC 3463 (5.5.4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tegami::mail {

// RFC 3461 §4.4: "The ENVID parameter MAY be up to 100 characters in length."
inline constexpr std::size_t kMaxEnvid = 100;
// RFC 3461 §4.2: "The entire ORCPT parameter MAY be up to 500 characters."
inline constexpr std::size_t kMaxOrcpt = 500;

// MAIL ... RET= (§4.3). Unspecified: the MTA chooses (tegami: headers only).
enum class DsnRet : std::uint8_t { kUnspecified, kFull, kHdrs };

// RCPT ... NOTIFY= (§4.1) as bits; 0 means the parameter was not given,
// which asks for the default: failure and delay notices, no success notice.
struct DsnNotify {
  static constexpr unsigned kSuccess = 1;
  static constexpr unsigned kFailure = 2;
  static constexpr unsigned kDelay = 4;
  static constexpr unsigned kNever = 8;
  unsigned bits = 0;

  bool given() const { return bits != 0; }
  bool failure() const { return bits == 0 || (bits & kFailure) != 0; }
  bool delay() const { return bits == 0 || (bits & kDelay) != 0; }
  bool success() const { return (bits & kSuccess) != 0; }
  bool operator==(const DsnNotify&) const = default;
};

// RCPT ... ORCPT= (§4.2): the address type (lower case, "rfc822") and the
// decoded address. Empty type: no ORCPT.
struct DsnOrcpt {
  std::string type;
  std::string address;
  bool given() const { return !type.empty(); }
  bool operator==(const DsnOrcpt&) const = default;
};

// xtext (§4). Decoding fails on a bare "+", a "+" without two hex digits, an
// "=" and any octet outside "!".."~".
std::optional<std::string> xtext_decode(std::string_view xtext);
std::string xtext_encode(std::string_view raw);

// The value after "NOTIFY=", "ORCPT=", "RET=", "ENVID=". Errors: 501 5.5.4.
Result<DsnNotify> parse_notify(std::string_view value);
Result<DsnOrcpt> parse_orcpt(std::string_view value);
Result<DsnRet> parse_ret(std::string_view value);
Result<std::string> parse_envid(std::string_view value);

// The esmtp-values as tegami writes them (relaying, the spool):
// "SUCCESS,FAILURE", "NEVER", "" for no NOTIFY; "FULL", "HDRS", "".
std::string notify_text(DsnNotify n);
std::string_view ret_text(DsnRet r);
// "rfc822;" + xtext of the address; "" when not given.
std::string orcpt_text(const DsnOrcpt& o);

}  // namespace tegami::mail
