#include "core/network_key.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace tegami {

std::string network_key(std::string_view ip, unsigned ipv6_prefix) {
  std::string text(ip.substr(0, ip.find('%')));  // drop a zone id
  unsigned char b[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), b) == 1) {
    if (!inet_ntop(AF_INET, b, out, sizeof out)) return std::string(ip);
    return out;
  }
  if (inet_pton(AF_INET6, text.c_str(), b) != 1) return std::string(ip);
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, sizeof kMapped) == 0) {
    if (!inet_ntop(AF_INET, b + 12, out, sizeof out)) return std::string(ip);
    return out;
  }
  const unsigned prefix = std::clamp(ipv6_prefix, kMinIpv6Prefix, kMaxIpv6Prefix);
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned first_bit = i * 8;
    if (first_bit >= prefix) {
      b[i] = 0;
    } else if (prefix - first_bit < 8) {
      b[i] &= static_cast<unsigned char>(0xff00u >> (prefix - first_bit));
    }
  }
  if (!inet_ntop(AF_INET6, b, out, sizeof out)) return std::string(ip);
  return std::string(out) + "/" + std::to_string(prefix);
}

}  // namespace tegami
