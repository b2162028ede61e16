#include "proto/pop3/message_format.hpp"

#include <algorithm>

namespace tegami::pop3 {

bool MultilineEncoder::feed(std::string_view chunk, std::string& out) {
  if (done_) return false;
  out.reserve(out.size() + chunk.size() + chunk.size() / 64 + 8);
  std::size_t i = 0;
  while (i < chunk.size()) {
    if (line_start_) {
      // A new line begins: TOP counts body lines here, before sending any.
      if (!in_header_) {
        if (max_body_lines_ && body_lines_ >= *max_body_lines_) {
          done_ = true;
          return false;
        }
        ++body_lines_;
      }
      line_start_ = false;
    }
    const char c = chunk[i];
    if (c == '\n') {
      if (in_header_ && !has_content_) in_header_ = false;  // the blank line is sent
      out += "\r\n";
      line_start_ = true;
      has_content_ = false;
      cr_held_ = false;  // a CR right before the LF belongs to the line end
      ++i;
      continue;
    }
    if (cr_held_) {  // the held CR was not the line's end: it is content
      out += '\r';
      has_content_ = true;
      cr_held_ = false;
    }
    if (c == '\r') {
      cr_held_ = true;
      ++i;
      continue;
    }
    if (!has_content_ && c == '.') out += '.';
    // The rest of the line's ordinary octets in one go.
    const auto* begin = chunk.data() + i;
    const auto* end = chunk.data() + chunk.size();
    const auto* stop = std::find_if(begin, end, [](char ch) { return ch == '\r' || ch == '\n'; });
    out.append(begin, static_cast<std::size_t>(stop - begin));
    has_content_ = true;
    i += static_cast<std::size_t>(stop - begin);
  }
  return true;
}

void MultilineEncoder::finish(std::string& out) {
  if (!done_ && !line_start_) {
    // An unterminated last line (a held CR is its line end).
    if (in_header_ && !has_content_) in_header_ = false;
    out += "\r\n";
  }
  out += ".\r\n";
  done_ = true;
}

void append_multiline_message(std::string& out, std::string_view message,
                              std::optional<std::uint64_t> max_body_lines) {
  MultilineEncoder enc(max_body_lines);
  enc.feed(message, out);
  enc.finish(out);
}

}  // namespace tegami::pop3
