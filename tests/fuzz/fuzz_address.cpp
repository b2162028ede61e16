// libFuzzer target: RFC 5321 path and ESMTP parameter parsing. Checks the
// limits, the normalisation of the domain, and that a parsed address prints
// back to a path that parses to the same address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mail/address.hpp"
#include "mail/intl.hpp"

using namespace tegami::mail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  PathKind kind = (data[0] & 1) ? PathKind::kForward : PathKind::kReverse;
  bool allow_params = (data[0] & 2) != 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  auto cmd = parse_path_command(input, kind, allow_params);
  if (!cmd) {
    int code = cmd.error().smtp_code;
    // 553: a non-ASCII path without SMTPUTF8 (RFC 6531 §3.5).
    if (code != 501 && code != 555 && code != 553) std::abort();
    if (cmd.error().temporary) std::abort();
  }
  auto parsed = parse_path(input, kind);
  if (!parsed) return 0;
  const Address& a = *parsed;
  if (input.size() > kMaxPath) std::abort();
  if (a.null_path && (kind != PathKind::kReverse || !a.local.empty())) std::abort();
  for (char c : a.domain) {
    if (c >= 'A' && c <= 'Z') std::abort();
  }
  if (!a.domain.empty() && a.domain.back() == '.') std::abort();
  // local_lower is NFC (RFC 6532): only an ASCII local part keeps its length.
  if (is_ascii(a.local) && a.local_lower.size() != a.local.size()) std::abort();
  // Whatever was accepted is printable UTF-8, and the domain is ASCII (A-labels).
  if (!printable_utf8(a.local) || !is_ascii(a.domain)) std::abort();
  if (a.ip_literal && a.numeric_domain) std::abort();

  // Round trip: the printed path parses to the same address (minus the route).
  auto again = parse_path(a.to_path(), kind);
  if (!again) std::abort();
  if (again->local != a.local || again->domain != a.domain || again->null_path != a.null_path) {
    std::abort();
  }
  if (again->has_source_route || again->local_has_at != a.local_has_at ||
      again->local_has_percent != a.local_has_percent ||
      again->local_has_bang != a.local_has_bang || again->ip_literal != a.ip_literal ||
      again->numeric_domain != a.numeric_domain) {
    std::abort();
  }
  return 0;
}
