#include "proto/smtp/data_encoder.hpp"

namespace tegami::smtp {

void WireEncoder::put(std::string_view s, std::string* out) {
  produced_ += s.size();
  if (out != nullptr) out->append(s);
}

void WireEncoder::encode(std::string_view in, std::string* out) {
  if (out != nullptr) out->reserve(out->size() + in.size() + in.size() / 64 + 4);
  std::size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    if (c == '\0') {
      // Issue 14: never on the wire. A NUL is dropped as if it were not
      // there (so "\r\n\0.\r\n" leaves as "\r\n..\r\n", stuffed).
      ++i;
      continue;
    }
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') {  // the LF of a CRLF whose CR was already written
        ++i;
        continue;
      }
    }
    if (c == '\r' || c == '\n') {
      // CRLF, a bare CR and a bare LF all end one line.
      put("\r\n", out);
      line_start_ = true;
      skip_lf_ = c == '\r';
      ++i;
      continue;
    }
    if (line_start_ && dot_stuff_ && c == '.') put(".", out);
    line_start_ = false;
    // The rest of the line goes in one piece (up to a NUL).
    std::size_t stop = in.find_first_of(std::string_view("\r\n\0", 3), i);
    if (stop == std::string_view::npos) stop = in.size();
    put(in.substr(i, stop - i), out);
    i = stop;
  }
}

void WireEncoder::finish(std::string* out) {
  if (!line_start_) put("\r\n", out);
  line_start_ = true;
  skip_lf_ = false;
  if (dot_stuff_) put(".\r\n", out);
}

std::string encode_data(std::string_view message) {
  std::string out;
  WireEncoder e(WireEncoder::Mode::kData);
  e.encode(message, &out);
  e.finish(&out);
  return out;
}

std::string encode_bdat(std::string_view message) {
  std::string body;
  WireEncoder e(WireEncoder::Mode::kBdat);
  e.encode(message, &body);
  e.finish(&body);
  return "BDAT " + std::to_string(body.size()) + " LAST\r\n" + body;
}

bool has_eight_bit(std::string_view message) {
  for (char c : message)
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  return false;
}

bool has_eight_bit_headers(std::string_view message) {
  std::size_t end = message.find("\r\n\r\n");
  if (message.rfind("\r\n", 0) == 0) end = 0;  // no header at all
  return has_eight_bit(message.substr(0, end));
}

}  // namespace tegami::smtp
