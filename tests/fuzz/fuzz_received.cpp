// libFuzzer target: the Received: parser and the route analysis on top of it
// must accept any bytes without crashing, and its outputs stay well-formed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mail/charset.hpp"
#include "mail/header.hpp"
#include "mail/received.hpp"
#include "trace/render.hpp"
#include "trace/report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = tegami::mail::parse_received(in);
  if (r.date && r.date->offset_minutes > 24 * 60) __builtin_trap();
  // The same bytes as a whole message (several Received: fields, folded).
  std::string msg =
      "Received: " + std::string(in) + "\r\nDate: " + std::string(in.substr(0, 40)) + "\r\n\r\n";
  tegami::trace::Options opts;
  opts.own.add_domain("example.com");
  opts.own.add_relay("*.example.com");
  auto rep = tegami::trace::analyze(tegami::mail::parse_header(msg), opts);
  std::string j = tegami::trace::to_json(rep).dump();
  if (!tegami::mail::is_valid_utf8(j)) __builtin_trap();
  return 0;
}
