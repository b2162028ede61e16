// Internationalised mail addresses (EAI): UTF-8 checks, Unicode NFC and
// IDNA2008 domain conversion, for SMTPUTF8 (RFC 6531) and the directory.
//
// Invariants:
//  - valid_utf8() accepts exactly the UTF-8 of RFC 3629 §4 (no overlong
//    forms, no surrogates, nothing above U+10FFFF); RFC 6532 §3.1 makes
//    that the only encoding of non-ASCII text in mail;
//  - nfc() and domain_to_ascii() never return invalid UTF-8 or a control
//    character; their errors are values (permanent Error, no SMTP code: the
//    caller picks the reply);
//  - domain_to_ascii() of an ASCII domain without "xn--" labels is the
//    domain lower-cased: nothing changes for ASCII mail;
//  - two spellings of one IDN ("例え.テスト", "XN--R8JZ45G.xn--zckzah")
//    give the same A-label string, so A-labels are the one key for lookups.
//
// RFC 3629 (UTF-8), RFC 6532 §3.1 (UTF-8 in headers; NFC is recommended,
// §3.1 and RFC 5198), RFC 6531 §3.3 (UTF8-non-ascii in local parts, U-labels
// in domains), RFC 5890 §2.3.2.1 (A-label/U-label), RFC 5891 §5 (lookup:
// NFC, then conversion to A-labels). IDNA is libidn2's (IDNA2008), NFC
// libunistring's.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tegami::mail {

// True when every octet is below 0x80.
bool is_ascii(std::string_view s);

// Well-formed UTF-8 (RFC 3629): no overlong forms, surrogates or code
// points above U+10FFFF.
bool valid_utf8(std::string_view s);

// valid_utf8() and no control character: C0 (U+0000-U+001F), DEL and C1
// (U+0080-U+009F). What an address may contain at all.
bool printable_utf8(std::string_view s);

// Unicode Normalization Form C of valid UTF-8. ASCII comes back unchanged.
Result<std::string> nfc(std::string_view utf8);

// The A-label form of a domain (RFC 5891 §5): ASCII lower-cased, NFC, each
// non-ASCII label converted to "xn--..." and each "xn--" label checked
// (IDNA2008 proper, no UTS #46 mapping); no trailing dot handling (the
// caller strips it). Errors: not UTF-8, a code point IDNA2008 disallows
// (U+200B, non-ASCII upper case, ...), bad punycode.
Result<std::string> domain_to_ascii(std::string_view domain);

// The U-label form for display ("xn--r8jz45g.xn--zckzah" -> "例え.テスト");
// `ascii` itself when it has no A-label or does not convert.
std::string domain_to_unicode(std::string_view ascii);

// The key under which a local part is compared and stored: NFC, then ASCII
// letters lower-cased (non-ASCII letters keep their case: RFC 5321 §2.4
// leaves local parts to the receiving host; we fold only what SMTP always
// has). `local` must be valid UTF-8 (else it is returned lower-cased as is).
std::string local_key(std::string_view local);

}  // namespace tegami::mail
