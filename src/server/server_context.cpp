#include "server/server_context.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>

#include <fmt/format.h>

namespace tegami::server {

std::string QueueIdGenerator::next() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
                .count();
  auto c = counter_.fetch_add(1) & 0xffffu;
  // 44 bits of microseconds (about 200 days before wrapping into the next
  // cycle; uniqueness only needs the counter within one microsecond) + 16 bits.
  return fmt::format("{:011X}{:04X}", static_cast<unsigned long long>(us) & 0xFFFFFFFFFFFull, c);
}

std::string reverse_dns(const std::string& ip) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    len = sizeof(sockaddr_in6);
  } else {
    return {};
  }
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0,
                  NI_NAMEREQD) != 0)
    return {};
  // Forward-confirm: the name must resolve back to the same address, or
  // anybody controlling their PTR record could claim any name.
  addrinfo hints{};
  hints.ai_family = ss.ss_family;
  addrinfo* res = nullptr;
  if (getaddrinfo(host, nullptr, &hints, &res) != 0) return {};
  bool match = false;
  for (auto* p = res; p && !match; p = p->ai_next) {
    char text[INET6_ADDRSTRLEN];
    const void* a =
        p->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr);
    if (inet_ntop(p->ai_family, a, text, sizeof text) && ip == text) match = true;
  }
  freeaddrinfo(res);
  return match ? std::string(host) : std::string();
}

}  // namespace tegami::server
