// libFuzzer target: the strict From:/Sender: reader (issue 14) must accept
// any bytes without crashing, never return addresses together with an error,
// and every address it returns has exactly the shape local@domain with a
// lower-case domain.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mail/header_address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (bool groups : {true, false}) {
    auto r = tegami::mail::parse_mailbox_list(in, groups);
    if (!r.error.empty() && !r.addresses.empty()) __builtin_trap();
    for (const auto& a : r.addresses) {
      const auto at = a.rfind('@');
      if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) __builtin_trap();
      for (std::size_t i = at + 1; i < a.size(); ++i)
        if (a[i] >= 'A' && a[i] <= 'Z') __builtin_trap();
    }
  }
  return 0;
}
