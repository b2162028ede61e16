// libFuzzer target: the POP3 command parser (proto/pop3/command_parser.hpp).
//
// The first byte picks a split point and the starting mode; the rest is the
// byte stream. Checks the parser's invariants: NeedMore consumes everything,
// every other result consumes something, the buffer stays bounded, and the
// stream split in two (and byte by byte) parses exactly like the whole.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "proto/pop3/command_parser.hpp"

using namespace tegami::pop3;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

std::vector<ParseOutput> run(std::string_view input, const std::vector<std::size_t>& cuts,
                             bool sasl_start) {
  CommandParser parser;
  // The session switches modes between lines; mimic it: an AUTH command
  // switches to SASL mode, any SASL line switches back.
  parser.set_mode(sasl_start ? CommandParser::Mode::SaslResponse : CommandParser::Mode::Command);
  std::vector<ParseOutput> out;
  std::size_t start = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(input.size());
  for (std::size_t end : ends) {
    std::string_view chunk = input.substr(start, end - start);
    start = end;
    while (!chunk.empty()) {
      ParseResult r = parser.feed(chunk);
      check(r.consumed <= chunk.size());
      check(parser.buffered() <= kMaxSaslLine + 1);
      if (std::holds_alternative<NeedMore>(r.output)) {
        check(r.consumed == chunk.size());
      } else {
        check(r.consumed > 0);
        if (const auto* cmd = std::get_if<Command>(&r.output)) {
          const CommandSpec& spec = command_spec(cmd->verb);
          check(cmd->args.size() >= spec.min_args && cmd->args.size() <= spec.max_args);
          for (const auto& a : cmd->args) check(!a.empty() && a.size() <= kMaxArgument);
          if (cmd->verb == Verb::Auth && cmd->args.size() == 1) {
            parser.set_mode(CommandParser::Mode::SaslResponse);
          }
        } else if (const auto* line = std::get_if<SaslLine>(&r.output)) {
          check(line->text.size() <= kMaxSaslLine - 2);
          check(line->text.find('\n') == std::string::npos);
          parser.set_mode(CommandParser::Mode::Command);
        }
        out.push_back(r.output);
      }
      chunk.remove_prefix(r.consumed);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool sasl_start = (data[0] & 0x80) != 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto whole = run(input, {}, sasl_start);
  if (!input.empty()) {
    const std::size_t cut = (data[0] & 0x7f) % input.size();
    check(run(input, {cut}, sasl_start) == whole);
  }
  if (input.size() <= 512) {
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
    check(run(input, every, sasl_start) == whole);
  }
  return 0;
}
