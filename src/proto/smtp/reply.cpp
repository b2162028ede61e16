#include "proto/smtp/reply.hpp"

namespace tegami::smtp {

std::string sanitize_reply_text(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(text.size() < max ? text.size() : max);
  for (char ch : text) {
    if (out.size() >= max) break;
    auto c = static_cast<unsigned char>(ch);
    out += (c >= 0x20 && c < 0x7f) ? ch : '?';
  }
  return out;
}

std::string format_reply(int code, std::string_view enhanced, std::string_view text) {
  std::string out = std::to_string(code);
  out += ' ';
  if (!enhanced.empty()) {
    out += sanitize_reply_text(enhanced, 16);
    out += ' ';
  }
  out += sanitize_reply_text(text, kMaxReplyLine - 2 - out.size());
  out += "\r\n";
  return out;
}

std::string format_multiline(int code, const std::vector<std::string>& lines) {
  std::string prefix = std::to_string(code);
  if (lines.empty()) return prefix + " \r\n";
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += prefix;
    out += (i + 1 == lines.size()) ? ' ' : '-';
    out += sanitize_reply_text(lines[i], kMaxReplyLine - 2 - prefix.size() - 1);
    out += "\r\n";
  }
  return out;
}

int reply_code(std::string_view reply) {
  if (reply.size() < 3) return 0;
  int code = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    if (reply[i] < '0' || reply[i] > '9') return 0;
    code = code * 10 + (reply[i] - '0');
  }
  if (reply.size() > 3 && reply[3] != ' ' && reply[3] != '-' && reply[3] != '\r') return 0;
  return code;
}

std::string reply_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  int code = reply_code(text);
  std::string out;
  if (code >= 200 && code <= 599 && (text.size() == 3 || text[3] == ' ')) {
    out = sanitize_reply_text(text, kMaxReplyLine - 2);
  } else {
    out = "451 4.3.0 " + sanitize_reply_text(text, kMaxReplyLine - 12);
  }
  out += "\r\n";
  return out;
}

}  // namespace tegami::smtp
