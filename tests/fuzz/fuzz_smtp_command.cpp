// libFuzzer target: the SMTP command line parser. Checks that the parser is
// bounded, consumes what it says, never returns a command with forbidden
// bytes (8-bit only in MAIL and RCPT), and gives the same results however the
// input is split.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proto/smtp/command_parser.hpp"

using namespace tegami::smtp;

namespace {

std::string describe(const CommandResult& r) {
  if (const auto* c = std::get_if<Command>(&r)) {
    // Only printable ASCII reaches the session, except that MAIL and RCPT
    // may carry octets above 127 (SMTPUTF8 paths, RFC 6531 §3.3).
    const bool utf8_ok = c->verb == Verb::kMail || c->verb == Verb::kRcpt;
    for (char ch : c->name + c->args) {
      auto u = static_cast<unsigned char>(ch);
      if (u < 0x20 || u == 0x7f || (u > 0x7f && !utf8_ok)) std::abort();
    }
    // RFC 5321 §4.5.3.1.4 bounds a line at 512 octets with CRLF; AUTH (RFC
    // 4954 §4) and MAIL/RCPT with DSN parameters (RFC 3461 §4) are longer.
    const std::size_t limit = c->verb == Verb::kAuth ? kMaxAuthLine
                              : utf8_ok              ? kMaxMailRcptLine
                                                     : kMaxCommandLine;
    const std::size_t line = c->name.size() + (c->args.empty() ? 0 : 1 + c->args.size()) + 2;
    if (line > limit) std::abort();
    return "C" + c->name + "|" + c->args;
  }
  if (const auto* e = std::get_if<CommandError>(&r)) return "E" + std::to_string(int(e->kind));
  return "N";
}

std::vector<std::string> run(std::string_view input, std::size_t chunk) {
  CommandParser p;
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < input.size(); pos += chunk) {
    std::string_view piece = input.substr(pos, chunk);
    while (!piece.empty()) {
      CommandFeed f = p.feed(piece);
      if (f.consumed > piece.size()) std::abort();
      bool need = std::holds_alternative<NeedMore>(f.result);
      if (need && f.consumed != piece.size()) std::abort();
      if (std::holds_alternative<Command>(f.result) && f.consumed == 0) {
        std::abort();  // a command consumes at least its line end
      }
      piece.remove_prefix(f.consumed);
      if (need) break;
      out.push_back(describe(f.result));
      if (const auto* e = std::get_if<CommandError>(&f.result); e && error_drops(e->kind)) {
        return out;  // the session drops here
      }
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t chunk = 1 + data[0] % 17;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  auto whole = run(input, input.size() + 1);
  auto split = run(input, chunk);
  if (whole != split) std::abort();
  return 0;
}
