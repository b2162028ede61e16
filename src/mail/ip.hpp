// IP address text as found in Received: fields: normalisation and the
// public/special-purpose classification the route analysis needs.
//
// normalize_ip() accepts the spellings MTAs write (RFC 5321 4.1.3 address
// literals "[1.2.3.4]" and "[IPv6:...]", a glued port "[...]:38689", Exim 3's
// dotted port "10.0.8.6.13219", an IPv6 zone id "%6", IPv4-mapped IPv6) and
// returns the canonical text (inet_ntop), IPv4-mapped addresses as IPv4.
//
// Classification follows the IANA IPv4/IPv6 special-purpose registries
// (RFC 6890) with one deliberate exception: the documentation ranges
// (RFC 5737, RFC 3849) count as public, because in examples and tests they
// stand for public addresses and real mail never carries them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tegami::mail {

std::optional<std::string> normalize_ip(std::string_view text);

// True for a canonical address (from normalize_ip) that is globally routable.
bool is_public_ip(std::string_view canonical);
bool is_loopback_ip(std::string_view canonical);

}  // namespace tegami::mail
