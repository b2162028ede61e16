#include "proto/smtp/command_parser.hpp"

#include <algorithm>
#include <array>

namespace tegami::smtp {
namespace {

// Verbs of other protocols sent to port 25 by scanners and proxies
// (HTTP/1.1 RFC 9110 §9): answered 221 2.7.0 and dropped, like Postfix does.
constexpr std::array<std::string_view, 9> kForeignVerbs{
    "GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "DELETE", "TRACE", "PATCH"};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

// "Host:", "User-Agent: x", "Subject:": an RFC 5322 §3.6.8 field name and a
// colon. No SMTP verb contains a colon, so this is never a command.
bool looks_like_header(std::string_view token) {
  std::size_t colon = token.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    char c = token[i];
    if (c < 33 || c > 126) return false;
  }
  return true;
}

bool acceptable(unsigned char c) {
  return c >= 0x20 && c < 0x7f;
}

// RFC 6531 §3.3: with SMTPUTF8, only the paths of MAIL and RCPT may carry
// UTF-8; the address parser judges it (malformed: 501 5.5.4, no SMTPUTF8:
// 553 5.6.7). Any other command with an 8-bit octet stays invalid.
bool may_carry_utf8(const CommandResult& r) {
  const auto* cmd = std::get_if<Command>(&r);
  return cmd != nullptr && (cmd->verb == Verb::kMail || cmd->verb == Verb::kRcpt);
}

}  // namespace

std::string_view error_reply(CommandErrorKind kind) {
  switch (kind) {
    case CommandErrorKind::kBareLineEnding:
      return "550 5.5.2 Error: bare <CR> or <LF> received\r\n";
    case CommandErrorKind::kLineTooLong:
      return "500 5.5.2 Error: line too long\r\n";
    case CommandErrorKind::kAuthTooLong:
      return "500 5.5.6 Error: authentication exchange line is too long\r\n";
    case CommandErrorKind::kInvalidByte:
      return "500 5.5.2 Error: invalid character in command\r\n";
    case CommandErrorKind::kNonSmtp:
      return "221 2.7.0 Error: this is an SMTP server, not HTTP; goodbye\r\n";
  }
  return "500 5.5.2 Error\r\n";
}

bool error_drops(CommandErrorKind kind) {
  return kind == CommandErrorKind::kBareLineEnding || kind == CommandErrorKind::kNonSmtp;
}

CommandResult classify_line(std::string_view line) {
  std::size_t sp = line.find(' ');
  std::string_view name = line.substr(0, sp);
  Command cmd;
  cmd.name = std::string(name);
  if (sp != std::string_view::npos) cmd.args = std::string(line.substr(sp + 1));
  cmd.spec = find_command(name);
  if (cmd.spec != nullptr) {
    cmd.verb = cmd.spec->verb;
    return cmd;
  }
  for (auto v : kForeignVerbs) {
    if (iequals(name, v)) return CommandError{CommandErrorKind::kNonSmtp};
  }
  if (looks_like_header(name)) return CommandError{CommandErrorKind::kNonSmtp};
  return cmd;  // Verb::kUnknown
}

void CommandParser::reset() {
  line_.clear();
  length_ = 0;
  cr_ = false;
  overflow_ = false;
  auth_line_ = false;
  path_line_ = false;
  bad_byte_ = false;
  eight_bit_ = false;
}

CommandResult CommandParser::finish_line() {
  CommandResult r;
  if (overflow_) {
    r = CommandError{auth_line_ ? CommandErrorKind::kAuthTooLong : CommandErrorKind::kLineTooLong};
  } else if (bad_byte_) {
    r = CommandError{CommandErrorKind::kInvalidByte};
  } else {
    r = classify_line(line_);
    if (eight_bit_ && !may_carry_utf8(r)) r = CommandError{CommandErrorKind::kInvalidByte};
  }
  reset();
  return r;
}

CommandFeed CommandParser::feed(std::string_view bytes) {
  std::size_t i = 0;
  if (cr_ && !bytes.empty()) {
    // The previous feed ended in CR: only LF may follow.
    if (bytes[0] != '\n') {
      reset();
      return {0, CommandError{CommandErrorKind::kBareLineEnding}};
    }
    return {1, finish_line()};
  }
  while (i < bytes.size()) {
    // Copy the run of ordinary bytes in one go.
    auto* begin = bytes.data() + i;
    auto* end = bytes.data() + bytes.size();
    auto* stop = std::find_if(begin, end, [](char c) { return c == '\r' || c == '\n'; });
    std::size_t run = static_cast<std::size_t>(stop - begin);
    if (run > 0) {
      length_ += run;
      if (!overflow_) {
        for (std::size_t k = 0; k < run; ++k) {
          auto c = static_cast<unsigned char>(begin[k]);
          if (c >= 0x80) {
            eight_bit_ = true;
          } else if (!acceptable(c)) {
            bad_byte_ = true;
          }
        }
        line_.append(begin, run);
        // RFC 4954 §4: AUTH lines carry base64 and may be longer.
        auth_line_ = line_.size() >= 5 && iequals(std::string_view(line_).substr(0, 5), "AUTH ");
        // RFC 3461 §4: MAIL and RCPT carry longer parameters.
        path_line_ = line_.size() >= 5 && (iequals(std::string_view(line_).substr(0, 5), "MAIL ") ||
                                           iequals(std::string_view(line_).substr(0, 5), "RCPT "));
        std::size_t limit =
            auth_line_ ? kMaxAuthLine : (path_line_ ? kMaxMailRcptLine : kMaxCommandLine);
        if (length_ + 2 > limit) overflow_ = true;
      }
      if (overflow_) line_.clear();  // discarding to CRLF; memory stays bounded
      i += run;
    }
    if (i == bytes.size()) break;
    if (bytes[i] == '\n') {
      if (bare_lf_) return {i + 1, finish_line()};
      reset();
      return {i + 1, CommandError{CommandErrorKind::kBareLineEnding}};
    }
    // CR: must be followed by LF.
    if (i + 1 == bytes.size()) {
      cr_ = true;
      return {i + 1, NeedMore{}};
    }
    if (bytes[i + 1] != '\n') {
      reset();
      return {i + 1, CommandError{CommandErrorKind::kBareLineEnding}};
    }
    return {i + 2, finish_line()};
  }
  return {i, NeedMore{}};
}

}  // namespace tegami::smtp
