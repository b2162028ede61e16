#include "proto/smtp/data_encoder.hpp"

namespace tegami::smtp {

std::string encode_data(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    char c = message[i];
    if (c == '\r' || c == '\n') {
      // CRLF, a bare CR and a bare LF all end one line.
      if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') ++i;
      out += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

std::string encode_bdat(std::string_view message) {
  std::string body;
  body.reserve(message.size() + message.size() / 64 + 2);
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    char c = message[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') ++i;
      body += "\r\n";
      line_start = true;
      continue;
    }
    body += c;
    line_start = false;
  }
  if (!line_start) body += "\r\n";
  std::string out = "BDAT " + std::to_string(body.size()) + " LAST\r\n";
  out += body;
  return out;
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
