#include "mail/ip.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "mail/ascii.hpp"

namespace tegami::mail {

namespace {

bool parse_v4(const std::string& s, unsigned char out[4]) {
  return inet_pton(AF_INET, s.c_str(), out) == 1;
}
bool parse_v6(const std::string& s, unsigned char out[16]) {
  return inet_pton(AF_INET6, s.c_str(), out) == 1;
}

bool in_v4(const unsigned char a[4], unsigned net, int prefix) {
  unsigned v = (unsigned{a[0]} << 24) | (unsigned{a[1]} << 16) | (unsigned{a[2]} << 8) | a[3];
  unsigned mask = prefix == 0 ? 0 : ~0u << (32 - prefix);
  return (v & mask) == (net & mask);
}

bool v4_public(const unsigned char a[4]) {
  struct Net {
    unsigned net;
    int prefix;
  };
  static constexpr Net kSpecial[] = {
      {0x00000000, 8},   // "this network"
      {0x0A000000, 8},   // private
      {0x64400000, 10},  // shared address space (CGNAT)
      {0x7F000000, 8},   // loopback
      {0xA9FE0000, 16},  // link-local
      {0xAC100000, 12},  // private
      {0xC0000000, 24},  // IETF protocol assignments
      {0xC0A80000, 16},  // private
      {0xC6120000, 15},  // benchmarking
      {0xE0000000, 4},   // multicast
      {0xF0000000, 4},   // reserved, broadcast
  };
  for (const auto& n : kSpecial)
    if (in_v4(a, n.net, n.prefix)) return false;
  return true;
}

}  // namespace

std::optional<std::string> normalize_ip(std::string_view text) {
  std::string_view t = trim(text);
  if (!t.empty() && t.front() == '[') {
    std::size_t close = t.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    t = t.substr(1, close - 1);  // a glued ":port" after ']' is dropped
  }
  if (istarts_with(t, "ipv6:")) t.remove_prefix(5);
  std::size_t pct = t.find('%');
  if (pct != std::string_view::npos) t = t.substr(0, pct);
  if (t.empty() || t.size() > 64) return std::nullopt;
  std::string s(t);

  unsigned char b[16];
  char buf[INET6_ADDRSTRLEN];
  if (parse_v4(s, b)) {
    inet_ntop(AF_INET, b, buf, sizeof buf);
    return std::string(buf);
  }
  // Exim 3 writes the port as a fifth dotted component.
  if (std::count(s.begin(), s.end(), '.') == 4 && s.find(':') == std::string::npos) {
    std::string head = s.substr(0, s.rfind('.'));
    if (parse_v4(head, b)) {
      inet_ntop(AF_INET, b, buf, sizeof buf);
      return std::string(buf);
    }
  }
  if (parse_v6(s, b)) {
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(b, kMapped, 12) == 0) {
      inet_ntop(AF_INET, b + 12, buf, sizeof buf);
      return std::string(buf);
    }
    inet_ntop(AF_INET6, b, buf, sizeof buf);
    return std::string(buf);
  }
  return std::nullopt;
}

bool is_public_ip(std::string_view canonical) {
  std::string s(canonical);
  unsigned char b[16];
  if (parse_v4(s, b)) return v4_public(b);
  if (!parse_v6(s, b)) return false;
  static constexpr unsigned char kZero[16] = {};
  if (std::memcmp(b, kZero, 15) == 0 && (b[15] == 0 || b[15] == 1)) return false;  // :: and ::1
  if ((b[0] & 0xFE) == 0xFC) return false;                                         // fc00::/7 ULA
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return false;                         // fe80::/10
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) return false;                         // fec0::/10
  if (b[0] == 0xFF) return false;                                                  // multicast
  if (b[0] == 0x01 && b[1] == 0x00 && std::memcmp(b + 2, kZero, 6) == 0) return false;  // 100::/64
  return true;
}

bool is_loopback_ip(std::string_view canonical) {
  std::string s(canonical);
  unsigned char b[16];
  if (parse_v4(s, b)) return b[0] == 127;
  return s == "::1";
}

}  // namespace tegami::mail
