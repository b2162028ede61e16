#include "proto/pop3/command_parser.hpp"

namespace tegami::pop3 {
namespace {

char to_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

}  // namespace

const CommandSpec& command_spec(Verb verb) {
  for (const auto& spec : kCommands) {
    if (spec.verb == verb) return spec;
  }
  return kCommands[0];  // unreachable: every Verb has a row (checked by a unit test)
}

const CommandSpec* find_command(std::string_view keyword) {
  if (keyword.size() < 3 || keyword.size() > 4) return nullptr;
  for (const auto& spec : kCommands) {
    if (spec.keyword.size() != keyword.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < keyword.size() && same; ++i) {
      same = to_upper(keyword[i]) == spec.keyword[i];
    }
    if (same) return &spec;
  }
  return nullptr;
}

ParseOutput parse_command_line(std::string_view line) {
  if (line.empty()) return ParseError{ParseError::Kind::BadSyntax, std::nullopt};
  for (unsigned char c : line) {
    if (is_control(c)) return ParseError{ParseError::Kind::BadSyntax, std::nullopt};
  }
  const std::size_t space = line.find(' ');
  const std::string_view keyword = line.substr(0, space);
  if (keyword.empty()) return ParseError{ParseError::Kind::BadSyntax, std::nullopt};
  const CommandSpec* spec = find_command(keyword);
  if (spec == nullptr) return ParseError{ParseError::Kind::UnknownCommand, std::nullopt};

  Command cmd{spec->verb, {}};
  const std::string_view rest =
      space == std::string_view::npos ? std::string_view{} : line.substr(space);
  const ParseError bad_args{ParseError::Kind::BadArguments, spec->verb};
  if (spec->rest_of_line) {
    // One argument: everything after the single separating space.
    if (rest.size() > 1) cmd.args.emplace_back(rest.substr(1));
  } else {
    std::size_t i = 0;
    while (i < rest.size()) {
      while (i < rest.size() && rest[i] == ' ') ++i;
      if (i == rest.size()) break;
      const std::size_t end = std::min(rest.find(' ', i), rest.size());
      if (cmd.args.size() == spec->max_args) return bad_args;  // too many
      cmd.args.emplace_back(rest.substr(i, end - i));
      i = end;
    }
  }
  if (cmd.args.size() < spec->min_args || cmd.args.size() > spec->max_args) return bad_args;
  for (const auto& arg : cmd.args) {
    if (arg.size() > kMaxArgument) return bad_args;
  }
  return cmd;
}

std::size_t CommandParser::limit() const {
  // Octets of line content (without CRLF).
  return (mode_ == Mode::SaslResponse ? kMaxSaslLine : kMaxCommandLine) - 2;
}

void CommandParser::reset() {
  line_.clear();
  line_.shrink_to_fit();
  discarding_ = false;
  discarded_ = 0;
  flooded_ = false;
}

ParseOutput CommandParser::finish_line() {
  std::string line = std::move(line_);
  line_.clear();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > limit()) return ParseError{ParseError::Kind::LineTooLong, std::nullopt};
  if (mode_ == Mode::SaslResponse) return SaslLine{std::move(line)};
  return parse_command_line(line);
}

ParseResult CommandParser::feed(std::string_view bytes) {
  std::size_t pos = 0;
  while (discarding_) {
    // Skipping the rest of an over-long line, without keeping it.
    const std::size_t lf = bytes.find('\n', pos);
    const std::size_t upto = lf == std::string_view::npos ? bytes.size() : lf;
    const std::size_t n = upto - pos;
    if (!flooded_ && discarded_ + n > kMaxDiscard) {
      flooded_ = true;
      pos += kMaxDiscard - discarded_ + 1;
      discarded_ = kMaxDiscard + 1;
      return {pos, ParseError{ParseError::Kind::Flood, std::nullopt}};
    }
    discarded_ += n;
    if (lf == std::string_view::npos) return {bytes.size(), NeedMore{}};
    pos = lf + 1;
    discarding_ = false;
    discarded_ = 0;
    flooded_ = false;
  }

  const std::size_t lf = bytes.find('\n', pos);
  const std::size_t upto = lf == std::string_view::npos ? bytes.size() : lf;
  // The buffer may hold one octet over the limit: the CR of a CRLF.
  const std::size_t room = limit() + 1 - line_.size();
  if (upto - pos > room) {
    // Too long: report now (the client may never send the LF) and discard the rest.
    pos += room + 1;
    discarded_ = line_.size() + room + 1;
    line_.clear();
    discarding_ = true;
    return {pos, ParseError{ParseError::Kind::LineTooLong, std::nullopt}};
  }
  line_.append(bytes.substr(pos, upto - pos));
  if (lf == std::string_view::npos) return {bytes.size(), NeedMore{}};
  return {lf + 1, finish_line()};
}

}  // namespace tegami::pop3
