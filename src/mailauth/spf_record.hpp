// The SPF record language (RFC 7208 §4.5, §4.6, §5, §6, §7): the record
// parser, the domain-spec and macro-string grammar, macro expansion, and the
// IP address type the mechanisms compare. Pure functions, no DNS: the
// evaluator (mailauth/spf.hpp) asks for lookups and calls these.
//
// Invariants:
// - parse_spf_record() checks the whole record before anything is
//   evaluated (§4.6: a syntax error anywhere is "permerror", however late in
//   the record), including the macro syntax of every term and modifier and
//   the domain-end of every domain-spec (§7.1: "." toplabel or a macro);
//   checking syntax after expansion would be wrong (§7.1 last paragraph).
// - Records, terms and expansions are bounded (kMaxRecordLength,
//   kMaxExpansion): hostile input costs at most a few kilobytes and never
//   throws; a digit transformer larger than any label count is clamped.
// - Macro letters c, r and t are accepted only in explanation text (§7.2);
//   in a domain-spec they are syntax errors.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::mailauth {

// An IPv4 or IPv6 address. IPv4 is held in the first four bytes. An
// IPv4-mapped IPv6 address (::ffff:a.b.c.d) is IPv4 for SPF (RFC 7208 §5:
// "MUST still be considered an IPv4 address"), so parse() returns it as such.
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};

  static std::optional<IpAddress> parse(std::string_view text);
  // Strict dotted quad, no leading zeros (RFC 7208 §5.6 ip4-network, qnum).
  static std::optional<IpAddress> parse_v4(std::string_view text);
  // RFC 4291 §2.2 text forms; an IPv4-mapped address stays IPv6 here (the
  // ip6 mechanism's network is taken as written).
  static std::optional<IpAddress> parse_v6(std::string_view text);
  // "192.0.2.1" or the RFC 5952 form ("2001:db8::1"): %{c}, client-ip=.
  std::string to_string() const;
  // %{i}: dotted quad, or 32 dot-separated lower-case nibbles (§7.3).
  std::string macro_i() const;
  // The PTR query name: "4.3.2.1.in-addr.arpa" or the nibbles ".ip6.arpa".
  std::string reverse_name() const;
  // Same family and the first `prefix` bits equal.
  bool in_network(const IpAddress& net, int prefix) const;
  bool operator==(const IpAddress&) const = default;
};

enum class Qualifier : char { kPass = '+', kFail = '-', kSoftFail = '~', kNeutral = '?' };

enum class MechanismKind { kAll, kInclude, kA, kMx, kPtr, kIp4, kIp6, kExists };

struct Mechanism {
  Qualifier qualifier = Qualifier::kPass;
  MechanismKind kind = MechanismKind::kAll;
  std::string domain_spec;  // unexpanded; "" when absent (<domain> is used, §4.8)
  int cidr4 = 32;           // a, mx, ip4
  int cidr6 = 128;          // a, mx, ip6
  IpAddress network;        // ip4, ip6
  std::string text;         // the term as written, for logs and mechanism=
};

struct SpfRecord {
  std::vector<Mechanism> mechanisms;       // in record order (§4.6.2)
  std::optional<std::string> redirect;     // domain-spec of redirect= (§6.1)
  std::optional<std::string> explanation;  // domain-spec of exp= (§6.2)
};

// §3.4 suggests records fit a 512-octet answer; longer ones exist (several
// strings), but nothing legitimate comes near this.
inline constexpr std::size_t kMaxRecordLength = 4096;
// An expanded macro-string longer than this is an error (a domain name is at
// most 253 octets; an explanation is a line of text).
inline constexpr std::size_t kMaxExpansion = 2048;
// RFC 1035 §2.3.4 (253 octets in text form, without the trailing dot).
inline constexpr std::size_t kMaxDomainLength = 253;
inline constexpr std::size_t kMaxLabelLength = 63;

// True when `txt` (a TXT record, strings concatenated) is an SPF record:
// "v=spf1" (any case) followed by a space or the end (§4.5).
bool is_spf_record(std::string_view txt);

struct SpfParse {
  std::optional<SpfRecord> record;  // set on success
  std::string error;                // why not, on failure (a permerror)
};
SpfParse parse_spf_record(std::string_view txt);

enum class MacroMode {
  kDomainSpec,  // mechanism and modifier arguments: letters s l o d i p v h
  kExplain,     // the exp= TXT text: also c r t, and spaces (§6.2 explain-string)
};

// Syntax of a macro-string (§7.1). On failure, `error` says why.
bool valid_macro_string(std::string_view s, MacroMode mode, std::string* error = nullptr);
// A macro-string that ends in "." toplabel ["."] or in a macro-expand (§7.1).
bool valid_domain_spec(std::string_view s, std::string* error = nullptr);

// What the macro letters stand for (§7.3).
struct MacroValues {
  std::string sender;          // s: local-part@domain
  std::string local_part;      // l
  std::string sender_domain;   // o
  std::string domain;          // d: the <domain> of the current check_host()
  IpAddress ip;                // i, c, v
  std::string validated;       // p: the validated name, or "unknown" (computed by the caller)
  std::string helo;            // h
  std::string receiver;        // r
  std::int64_t timestamp = 0;  // t
};

// True when `s` uses %{p} (the caller must then validate the client's name
// first, which takes DNS lookups).
bool uses_p_macro(std::string_view s);

// Expands a macro-string already checked with valid_macro_string();
// nullopt if it is not valid after all or the result exceeds kMaxExpansion.
std::optional<std::string> expand_macros(std::string_view s, const MacroValues& values,
                                         MacroMode mode);

// An expanded domain-spec made ready for a query (§7.3, §4.8): one trailing
// dot removed, then labels removed from the left while longer than 253.
std::string query_name(std::string expanded);

// RFC 1035 shape: 1..253 octets, labels 1..63 octets (one trailing dot
// allowed). Says nothing of the characters, which DNS does not restrict.
bool valid_dns_name(std::string_view name);

// The name of §4.3: valid_dns_name(), at least two labels, printable ASCII
// and not an address literal ("[192.0.2.1]").
bool valid_check_domain(std::string_view name);

}  // namespace tegami::mailauth
