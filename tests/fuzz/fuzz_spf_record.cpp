// libFuzzer target: the SPF record parser, the macro expander and the
// check_host() evaluator must take any bytes without crashing or looping.
// The input is the SPF record of every domain (so include: and redirect=
// recurse into it), and, after a NUL byte, an explanation text; the DNS
// answers every other question from a small fixed table.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "mailauth/spf.hpp"
#include "mailauth/spf_record.hpp"

using namespace tegami::mailauth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t nul = in.find('\0');
  std::string record(in.substr(0, nul));
  std::string exp(nul == std::string_view::npos ? "" : in.substr(nul + 1));

  MacroValues v;
  v.sender = "user.name+tag@mail.example.com";
  v.local_part = "user.name+tag";
  v.sender_domain = v.domain = "mail.example.com";
  v.ip = *IpAddress::parse("2001:db8::cb01");
  v.helo = "helo.example.org";
  v.validated = "host.example.com";
  for (auto mode : {MacroMode::kDomainSpec, MacroMode::kExplain}) {
    for (const std::string* s : {&record, &exp}) {
      bool valid = valid_macro_string(*s, mode);
      auto e = expand_macros(*s, v, mode);
      if (e && !valid) __builtin_trap();
      if (e && e->size() > kMaxExpansion) __builtin_trap();
      if (valid_domain_spec(*s) && !valid_macro_string(*s, MacroMode::kDomainSpec))
        __builtin_trap();
      // Truncation (§7.3) drops whole labels from the left until it fits.
      std::string name = query_name(e.value_or(""));
      if (name.size() > kMaxDomainLength && name.find('.') != std::string::npos) __builtin_trap();
    }
  }
  auto parsed = parse_spf_record(record);
  if (parsed.record.has_value() == !parsed.error.empty()) __builtin_trap();

  SpfCheck check(SpfQuery::mail_from(*IpAddress::parse(size % 2 ? "192.0.2.1" : "2001:db8::1"),
                                     "user@example.com", "helo.example.org", "mx.example.net"));
  for (int i = 0; i <= SpfCheck::kMaxQuestions; ++i) {
    auto step = check.step();
    if (std::holds_alternative<SpfOutcome>(step)) return 0;
    const auto& q = std::get<DnsQuestion>(step);
    DnsAnswer a;
    a.rcode = DnsRcode::kOk;
    switch (q.type) {
      case DnsType::kTxt:
        a.txt.push_back({q.name.starts_with("exp") ? exp : record});
        break;
      case DnsType::kA:
        a.addresses.push_back(*IpAddress::parse("192.0.2.1"));
        break;
      case DnsType::kAaaa:
        a.addresses.push_back(*IpAddress::parse("2001:db8::1"));
        break;
      case DnsType::kMx:
        a.names = {"mx1.example.com", "", "mx2.example.com."};
        break;
      case DnsType::kPtr:
        a.names = {"host.example.com", "other.example.org"};
        break;
    }
    if (q.name.size() % 7 == 3) a.rcode = DnsRcode::kNotFound;
    if (q.name.size() % 11 == 5) a.rcode = DnsRcode::kTempFail;
    check.feed(std::move(a));
  }
  __builtin_trap();  // more steps than the question budget allows
}
