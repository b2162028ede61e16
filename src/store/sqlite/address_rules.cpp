#include "store/sqlite/address_rules.hpp"

#include <cstring>

#include "mail/intl.hpp"

namespace tegami::address_rules {

namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 5322 atext, minus '/' (it would be a path separator in the Maildir path).
bool is_local_char(char c) {
  return is_alnum(c) || (c != '\0' && std::strchr("!#$%&'*+-=?^_`{|}~", c) != nullptr);
}

Error bad(std::string_view what, std::string_view value) {
  return Error::perm(std::string(what) + ": '" + std::string(value) + "'", 553, "5.1.3");
}

}  // namespace

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string normalize_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (!mail::is_ascii(domain)) {
    if (auto a = mail::domain_to_ascii(domain)) return *a;
  }
  return to_lower(domain);
}

Result<std::string> check_domain(std::string_view domain) {
  std::string_view text = domain;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (!mail::is_ascii(text) || to_lower(text).find("xn--") != std::string::npos) {
    // IDNA2008 (RFC 5891 §5): U-labels are stored as A-labels; A-labels are checked.
    auto a = mail::domain_to_ascii(text);
    if (!a) return fail(bad(a.error().message, domain));
  }
  std::string d = normalize_domain(domain);
  if (d.empty()) return fail(bad("empty domain", domain));
  if (d.size() > kMaxDomain) return fail(bad("domain longer than 255 octets", domain));
  std::size_t label = 0;
  for (std::size_t i = 0; i <= d.size(); ++i) {
    if (i == d.size() || d[i] == '.') {
      if (label == 0) return fail(bad("empty label in domain", domain));
      if (label > kMaxLabel) return fail(bad("domain label longer than 63 octets", domain));
      if (d[i - 1] == '-' || d[i - label] == '-')
        return fail(bad("domain label starts or ends with '-'", domain));
      label = 0;
    } else if (is_alnum(d[i]) || d[i] == '-') {
      ++label;
    } else {
      return fail(bad("invalid character in domain", domain));
    }
  }
  return d;
}

Result<Parts> check_address(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return fail(bad("not an address (local@domain)", address));
  std::string_view local = address.substr(0, at);
  if (local.empty()) return fail(bad("empty local part", address));
  std::string normal;  // NFC (RFC 6532 §3.1), checked as stored
  if (!mail::is_ascii(local)) {
    if (!mail::printable_utf8(local))
      return fail(bad("local part is not printable UTF-8", address));
    auto n = mail::nfc(local);
    if (!n) return fail(bad(n.error().message, address));
    normal = std::move(*n);
    local = normal;
  }
  if (local.size() > kMaxLocalPart) return fail(bad("local part longer than 64 octets", address));
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return fail(bad("misplaced '.' in local part", address));
  for (char c : local)
    if (c != '.' && !is_local_char(c) && static_cast<unsigned char>(c) < 0x80)
      return fail(bad("invalid character in local part", address));
  auto d = check_domain(address.substr(at + 1));
  if (!d) return fail(d.error());
  return Parts{to_lower(local), *d};
}

std::optional<Parts> split_address(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return std::nullopt;
  Parts p{mail::local_key(address.substr(0, at)), normalize_domain(address.substr(at + 1))};
  if (p.domain.empty()) return std::nullopt;
  return p;
}

}  // namespace tegami::address_rules
