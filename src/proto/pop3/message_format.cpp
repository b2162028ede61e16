#include "proto/pop3/message_format.hpp"

namespace tegami::pop3 {

void append_multiline_message(std::string& out, std::string_view message,
                              std::optional<std::uint64_t> max_body_lines) {
  // Dot-stuffing adds at most one octet per line; reserve for the common case.
  out.reserve(out.size() + message.size() + message.size() / 64 + 5);
  bool in_header = true;
  std::uint64_t body_lines = 0;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const std::size_t lf = message.find('\n', pos);
    const std::size_t end = lf == std::string_view::npos ? message.size() : lf;
    std::string_view line = message.substr(pos, end - pos);
    pos = lf == std::string_view::npos ? message.size() : lf + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    if (!in_header) {
      if (max_body_lines && body_lines >= *max_body_lines) break;
      ++body_lines;
    } else if (line.empty()) {
      in_header = false;  // the blank line itself is always sent
    }
    if (!line.empty() && line.front() == '.') out += '.';
    out.append(line);
    out += "\r\n";
  }
  out += ".\r\n";
}

}  // namespace tegami::pop3
