#include "proto/smtp/reply_parser.hpp"

namespace tegami::smtp {

namespace {

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// "D.D{1,3}.D{1,3}" (RFC 3463 §2) at the start of `s`, followed by SP or the end.
std::size_t enhanced_length(std::string_view s) {
  std::size_t i = 0;
  if (s.size() < 5 || !digit(s[0]) || s[1] != '.') return 0;
  i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < s.size() && digit(s[i]) && i - start < 3) ++i;
    if (i == start) return 0;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return 0;
      ++i;
    }
  }
  if (i < s.size() && s[i] != ' ') return 0;
  return i;
}

}  // namespace

std::string_view to_string(ReplyErrorKind kind) {
  switch (kind) {
    case ReplyErrorKind::kSyntax:
      return "malformed reply";
    case ReplyErrorKind::kMixedCodes:
      return "reply lines with different codes";
    case ReplyErrorKind::kLineTooLong:
      return "reply line too long";
    case ReplyErrorKind::kTooManyLines:
      return "reply with too many lines";
  }
  return "?";
}

std::string ServerReply::enhanced() const {
  if (lines.empty()) return {};
  std::string_view first = lines.front();
  std::size_t n = enhanced_length(first);
  if (n == 0 || first[0] - '0' != kind()) return {};
  return std::string(first.substr(0, n));
}

std::string ServerReply::text() const {
  std::string out = std::to_string(code);
  for (const auto& l : lines) {
    if (l.empty()) continue;
    out += ' ';
    out += l;
  }
  return out;
}

ReplyFeed ReplyParser::feed(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    char c = bytes[i++];
    if (c == '\n') {
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      ReplyResult r = finish_line();
      line_.clear();
      if (!std::holds_alternative<NeedMore>(r)) {
        pending_ = ServerReply{};
        return ReplyFeed{i, std::move(r)};
      }
      continue;
    }
    // +1: room for the CR that the LF will remove.
    if (line_.size() >= kMaxReplyLineIn + 1) {
      line_.clear();
      pending_ = ServerReply{};
      return ReplyFeed{i, ReplyError{ReplyErrorKind::kLineTooLong}};
    }
    line_ += c;
  }
  return ReplyFeed{i, NeedMore{}};
}

ReplyResult ReplyParser::finish_line() {
  std::string_view l = line_;
  if (l.size() > kMaxReplyLineIn) return ReplyError{ReplyErrorKind::kLineTooLong};
  if (l.size() < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' || !digit(l[2]))
    return ReplyError{ReplyErrorKind::kSyntax};
  if (l.size() > 3 && l[3] != ' ' && l[3] != '-') return ReplyError{ReplyErrorKind::kSyntax};
  int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
  if (!pending_.lines.empty() && code != pending_.code)
    return ReplyError{ReplyErrorKind::kMixedCodes};
  if (pending_.lines.size() >= kMaxReplyLines) return ReplyError{ReplyErrorKind::kTooManyLines};
  pending_.code = code;
  std::string text;
  if (l.size() > 4) {
    text.reserve(l.size() - 4);
    for (char ch : l.substr(4)) {
      auto u = static_cast<unsigned char>(ch);
      text += (u >= 0x20 && u < 0x7f) ? ch : '?';
    }
  }
  pending_.lines.push_back(std::move(text));
  bool more = l.size() > 3 && l[3] == '-';
  if (more) return NeedMore{};
  return std::move(pending_);
}

}  // namespace tegami::smtp
