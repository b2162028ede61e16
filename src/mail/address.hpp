// RFC 5321 paths as they appear in MAIL FROM and RCPT TO, with the ESMTP
// parameters that follow them, and a strict classification for relay
// decisions.
//
// Invariants:
//  - parsing follows the RFC 5321 §4.1.2 grammar; what it rejects is never
//    half-accepted (a second unquoted "@", an empty label, a bad literal);
//  - an accepted source route ("<@a,@b:user@d>") is discarded (RFC 5321
//    §4.1.2 and Appendix C say servers SHOULD ignore it) but flagged, so that
//    policy can refuse it: it is a classic open-relay trick;
//  - Address::domain is lower case without its one optional trailing dot;
//    Address::local is the local part decoded (quotes and quoted-pairs
//    removed) with its case preserved (RFC 5321 §2.4: only the receiving host
//    may interpret it), and local_lower is its lower-case form;
//  - length limits are checked on the text as sent.
//  - SMTPUTF8 (RFC 6531 §3.3): a path may hold UTF-8 (atext and qtextSMTP
//    extended with UTF8-non-ascii, U-labels in the domain) when it is well
//    formed (RFC 3629) and has no control character; malformed UTF-8 is
//    501 5.5.4 whatever the parameters. A non-ASCII path is accepted by
//    parse_path_command only with SMTPUTF8 (on MAIL, or `smtputf8` for
//    RCPT); without it: 553 5.6.7 (RFC 6531 §3.5). U-label and A-label
//    domains are stored as A-labels (mail/intl.hpp), so lookups, relay
//    policy and Maildir paths stay ASCII; local_lower is mail::local_key()
//    (NFC, ASCII lower case).
//
// RFC 5321 §4.1.2 (path grammar), §4.1.3 (address literals), §4.5.3.1.1-3
// (64/255/256 octets), §4.1.1.3 (<Postmaster>), §4.1.1.11 and §4.5.3.1.x
// error codes; RFC 1870 (SIZE=), RFC 6152 (BODY=), RFC 3461 (RET=, ENVID=,
// NOTIFY=, ORCPT=; mail/dsn_params.hpp), RFC 3463 (5.1.3, 5.1.7, 5.5.4),
// RFC 6531 §3.3-§3.5 (SMTPUTF8, 5.6.7), RFC 5890/5891 (IDNA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "mail/dsn_params.hpp"

namespace tegami::mail {

// RFC 5321 §4.5.3.1.1: local part at most 64 octets.
inline constexpr std::size_t kMaxLocalPart = 64;
// RFC 5321 §4.5.3.1.2: domain at most 255 octets.
inline constexpr std::size_t kMaxDomain = 255;
// RFC 5321 §4.5.3.1.3: reverse- or forward-path at most 256 octets, brackets included.
inline constexpr std::size_t kMaxPath = 256;
// RFC 1035 §2.3.4: a label is at most 63 octets.
inline constexpr std::size_t kMaxLabel = 63;
// RFC 1870 §3: size-value = 1*20DIGIT.
inline constexpr std::size_t kMaxSizeDigits = 20;

struct Address {
  std::string local;         // decoded, case preserved; "" for the null path
  std::string local_lower;   // local, lower-cased (ASCII)
  std::string domain;        // lower case, no trailing dot; "[1.2.3.4]", "[ipv6:...]"
                             // for literals; "" for <> and for <Postmaster>;
                             // an IDN as A-labels ("xn--r8jz45g.xn--zckzah")
  std::string source_route;  // the discarded "@a,@b" (for logs), "" if none

  bool null_path = false;          // "<>" (reverse-path only)
  bool has_source_route = false;   // "<@a,@b:user@d>"
  bool quoted_local = false;       // the local part was a quoted string
  bool local_has_at = false;       // '@' inside the (quoted) local part
  bool local_has_percent = false;  // '%' in the local part ("user%other@here")
  bool local_has_bang = false;     // '!' in the local part ("other!user@here")
  bool ip_literal = false;         // "[1.2.3.4]" or "[IPv6:...]"
  bool numeric_domain = false;     // "1.2.3.4" written as a domain name
  bool utf8_local = false;         // the local part has non-ASCII characters
  bool utf8_domain = false;        // the domain was sent with U-labels

  // Needs SMTPUTF8 as sent (non-ASCII anywhere in the path).
  bool utf8() const { return utf8_local || utf8_domain; }

  // "local@domain", quoting the local part again when RFC 5321 requires it;
  // "" for the null path; "Postmaster" for a bare <Postmaster>.
  std::string to_string() const;
  // to_string() inside angle brackets: "<local@domain>", "<>".
  std::string to_path() const { return "<" + to_string() + ">"; }
};

enum class PathKind {
  kReverse,  // MAIL FROM: "<>" allowed; errors are 501 5.1.7
  kForward,  // RCPT TO: "<Postmaster>" allowed; errors are 501 5.1.3
};

// RFC 6152 8BITMIME; RFC 3030 §3 BINARYMIME (only with BDAT).
enum class BodyType { k7Bit, k8BitMime, kBinaryMime };

// The ESMTP parameters tegami understands on MAIL.
struct MailParameters {
  std::optional<std::uint64_t> size;  // SIZE=, saturated at UINT64_MAX
  BodyType body = BodyType::k7Bit;    // BODY=
  bool smtputf8 = false;              // SMTPUTF8 (RFC 6531 §3.4)
  DsnRet ret = DsnRet::kUnspecified;  // RET= (RFC 3461 §4.3)
  std::optional<std::string> envid;   // ENVID=, decoded (RFC 3461 §4.4)
};

// The ESMTP parameters tegami understands on RCPT (RFC 3461 §4.1, §4.2).
struct RcptParameters {
  DsnNotify notify;  // NOTIFY=; bits 0 when absent
  DsnOrcpt orcpt;    // ORCPT=; type "" when absent
};

struct PathCommand {
  Address address;
  MailParameters params;  // MAIL
  RcptParameters rcpt;    // RCPT
};

// Parses exactly one path, "<...>" with nothing around it.
// Errors: 501 5.1.7 (reverse) or 501 5.1.3 (forward), permanent.
Result<Address> parse_path(std::string_view text, PathKind kind);

// Parses what follows "MAIL FROM:" or "RCPT TO:": optional spaces, the path,
// then SP-separated ESMTP parameters (RFC 5321 §4.1.1.2, §4.1.2).
// `allow_params` is false after HELO (no ESMTP): any parameter is 555.
// Errors: path errors as parse_path; a parameter we do not know, or one of
// the other command (RET on RCPT, NOTIFY on MAIL): 555 5.5.4; a bad or
// repeated value: 501 5.5.4 (SMTPUTF8 takes no value; RFC 3461 §4 values
// as mail/dsn_params.hpp). A non-ASCII path without SMTPUTF8 (the MAIL
// parameter; for RCPT, `smtputf8` says whether the transaction's MAIL had
// it): 553 5.6.7 (RFC 6531 §3.5).
// SIZE= is not compared with a limit here (the session answers 552 5.3.4).
Result<PathCommand> parse_path_command(std::string_view args, PathKind kind, bool allow_params,
                                       bool smtputf8 = false);

// True for every shape of address used to trick a server into relaying
// (CHECKLIST "Open relay"): '%' or '!' in the local part, '@' in a quoted
// local part, a source route, an address literal or an all-numeric domain.
// The null path and a plain local@domain are false.
bool is_relay_hack(const Address& a);

// Domain equality as mail compares it: ASCII case-insensitive, one trailing
// dot on either side ignored.
bool domain_equal(std::string_view a, std::string_view b);

}  // namespace tegami::mail
