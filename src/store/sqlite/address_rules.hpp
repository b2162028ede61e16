// The syntax the directory accepts for the names it stores (domains, account
// and alias addresses), and their normal form.
//
// Stricter than RFC 5321 on purpose, because the names become directory
// names (data_dir/mail/DOMAIN/LOCAL): a local part is a dot-atom (RFC 5322
// §3.2.3) without '/', at most 64 octets (RFC 5321 §4.5.3.1.1); a domain is
// LDH labels of 1..63 octets separated by dots, at most 255 octets
// (§4.5.3.1.2), one trailing dot ignored. No quoted local parts, no address
// literals, no spaces or control characters.
// Everything is lower-cased (ASCII): addresses compare case-insensitively.
//
// Internationalised names (SMTPUTF8, RFC 6531/6532): a local part may hold
// UTF-8 (well-formed, no control character; RFC 6531 §3.3 extends atext
// with UTF8-non-ascii) and is stored in Unicode NFC; a domain may be given
// with U-labels and is stored as A-labels (IDNA2008, RFC 5891 §5), so
// "例え.テスト" and "xn--r8jz45g.xn--zckzah" are one domain. Lookups
// (split_address, normalize_domain) apply the same normal forms.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tegami::address_rules {

inline constexpr std::size_t kMaxLocalPart = 64;  // RFC 5321 §4.5.3.1.1
inline constexpr std::size_t kMaxDomain = 255;    // RFC 5321 §4.5.3.1.2
inline constexpr std::size_t kMaxLabel = 63;      // RFC 1035 §2.3.4

struct Parts {
  std::string local;
  std::string domain;
  std::string address() const { return local + "@" + domain; }
};

std::string to_lower(std::string_view s);

// Lower case, one trailing dot removed, U-labels as A-labels (when they
// convert). Does not validate.
std::string normalize_domain(std::string_view domain);

// Strict checks (for names being added). Permanent Error naming the problem.
Result<std::string> check_domain(std::string_view domain);
Result<Parts> check_address(std::string_view address);

// Lenient split for lookups: lower case, split at the last '@', domain
// normalised. nullopt when there is no '@' or either side is empty.
std::optional<Parts> split_address(std::string_view address);

}  // namespace tegami::address_rules
