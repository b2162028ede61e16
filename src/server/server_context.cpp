#include "server/server_context.hpp"

#include <chrono>

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

}  // namespace tegami::server
