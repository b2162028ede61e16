#include "mail/intl.hpp"

#include <idn2.h>
#include <uninorm.h>
#include <unistr.h>

#include <cstdlib>
#include <memory>

namespace tegami::mail {

namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

const std::uint8_t* bytes(std::string_view s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool has_alabel(std::string_view domain) {
  std::size_t start = 0;
  while (start <= domain.size()) {
    std::string_view label = domain.substr(start, domain.find('.', start) - start);
    if (label.size() >= 4 && ascii_lower(label.substr(0, 4)) == "xn--") return true;
    std::size_t dot = domain.find('.', start);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return false;
}

}  // namespace

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

bool valid_utf8(std::string_view s) {
  // u8_check implements RFC 3629 exactly: it stops at overlong forms,
  // surrogates (ED A0..BF) and anything beyond U+10FFFF.
  return s.empty() || u8_check(bytes(s), s.size()) == nullptr;
}

bool printable_utf8(std::string_view s) {
  if (!valid_utf8(s)) return false;
  const std::uint8_t* p = bytes(s);
  const std::uint8_t* end = p + s.size();
  while (p < end) {
    ucs4_t cp = 0;
    int n = u8_mbtouc(&cp, p, static_cast<std::size_t>(end - p));
    if (n <= 0) return false;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false;
    p += n;
  }
  return true;
}

Result<std::string> nfc(std::string_view utf8) {
  if (is_ascii(utf8)) return std::string(utf8);
  if (!valid_utf8(utf8)) return fail(Error::perm("malformed UTF-8"));
  std::size_t len = 0;
  std::unique_ptr<std::uint8_t, FreeDeleter> out(
      u8_normalize(UNINORM_NFC, bytes(utf8), utf8.size(), nullptr, &len));
  if (!out) return fail(Error::perm("Unicode normalisation failed"));
  return std::string(reinterpret_cast<const char*>(out.get()), len);
}

Result<std::string> domain_to_ascii(std::string_view domain) {
  if (is_ascii(domain) && !has_alabel(domain)) return ascii_lower(domain);
  if (!valid_utf8(domain)) return fail(Error::perm("malformed UTF-8 in domain"));
  // libidn2 wants a NUL-terminated string; ASCII letters are lower-cased
  // first (domains are case-insensitive, IDNA2008 disallows upper case).
  std::string z = ascii_lower(domain);
  if (z.find('\0') != std::string::npos) return fail(Error::perm("NUL in domain"));
  std::uint8_t* raw = nullptr;
  // Plain IDNA2008 (RFC 5891 §5.3-5.5) after NFC, without the UTS #46
  // mapping: a mapping would silently drop characters such as U+200B and
  // make two different strings one mailbox; a disallowed code point
  // (non-ASCII upper case included) is an error instead.
  int rc = idn2_lookup_u8(bytes(z), &raw, IDN2_NFC_INPUT | IDN2_NO_TR46);
  std::unique_ptr<std::uint8_t, FreeDeleter> out(raw);
  if (rc != IDN2_OK || !out)
    return fail(Error::perm(std::string("not a valid internationalised domain name: ") +
                            idn2_strerror(rc)));
  std::string a(reinterpret_cast<const char*>(out.get()));
  if (!is_ascii(a)) return fail(Error::perm("IDNA conversion left non-ASCII octets"));
  return ascii_lower(a);
}

std::string domain_to_unicode(std::string_view ascii) {
  if (!is_ascii(ascii) || !has_alabel(ascii)) return std::string(ascii);
  std::string z(ascii);
  char* raw = nullptr;
  int rc = idn2_to_unicode_8z8z(z.c_str(), &raw, 0);
  std::unique_ptr<char, FreeDeleter> out(raw);
  if (rc != IDN2_OK || !out) return z;
  return std::string(out.get());
}

std::string local_key(std::string_view local) {
  auto n = nfc(local);
  return ascii_lower(n ? std::string_view(*n) : local);
}

}  // namespace tegami::mail
