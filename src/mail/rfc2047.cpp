#include "mail/rfc2047.hpp"

#include <optional>

#include "mail/ascii.hpp"
#include "mail/charset.hpp"

namespace tegami::mail {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

struct EncodedWord {
  std::string charset;
  std::string bytes;
  std::size_t end = 0;  // offset just past "?="
};

// Parses an encoded word starting at s[pos] ("=?"); nullopt when it is not one.
std::optional<EncodedWord> parse_word(std::string_view s, std::size_t pos) {
  std::size_t cs_begin = pos + 2;
  std::size_t q1 = s.find('?', cs_begin);
  if (q1 == std::string_view::npos || q1 == cs_begin || q1 - pos > 80) return std::nullopt;
  if (q1 + 2 >= s.size() || s[q1 + 2] != '?') return std::nullopt;
  char enc = ascii_lower(s[q1 + 1]);
  if (enc != 'b' && enc != 'q') return std::nullopt;
  std::size_t text_begin = q1 + 3;
  std::size_t limit = std::min(s.size(), pos + kMaxEncodedWord);
  std::size_t close = s.substr(0, limit).find("?=", text_begin);
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view charset = s.substr(cs_begin, q1 - cs_begin);
  for (char c : charset)
    if (is_space(c) || c == '=' || c == '"') return std::nullopt;
  std::string_view text = s.substr(text_begin, close - text_begin);
  if (enc == 'b') {
    for (char c : text)
      if (is_space(c)) return std::nullopt;  // B text never holds spaces: not a word
  }
  EncodedWord w;
  std::size_t star = charset.find('*');  // RFC 2231 language
  w.charset = std::string(charset.substr(0, star));
  w.bytes = enc == 'b' ? decode_base64_lenient(text) : decode_q(text);
  w.end = close + 2;
  return w;
}

bool all_space(std::string_view s) {
  for (char c : s)
    if (!is_space(c)) return false;
  return true;
}

}  // namespace

std::string decode_base64_lenient(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    int v = base64_value(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string decode_q(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '_') {
      out.push_back(' ');
    } else if (c == '=' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string decode_rfc2047(std::string_view s, std::string_view fallback_charset) {
  auto raw = [&](std::string_view text) {
    if (!fallback_charset.empty() && !is_valid_utf8(text) &&
        text.find('\x1B') == std::string_view::npos)
      if (auto t = to_utf8(text, fallback_charset)) return *t;
    return raw_to_utf8(text);
  };
  std::string out;
  std::string pending_charset;
  std::string pending_bytes;
  std::string pending_raw;  // the words as written, kept if the charset is unknown
  bool have_pending = false;

  auto flush = [&] {
    if (!have_pending) return;
    auto text = to_utf8(pending_bytes, pending_charset);
    out.append(text ? *text : sanitize_utf8(pending_raw));
    have_pending = false;
    pending_bytes.clear();
    pending_raw.clear();
  };

  std::size_t i = 0;
  bool after_word = false;
  while (i < s.size()) {
    std::size_t p = s.find("=?", i);
    std::optional<EncodedWord> w;
    while (p != std::string_view::npos && !(w = parse_word(s, p))) p = s.find("=?", p + 2);
    if (!w) break;
    std::string_view between = s.substr(i, p - i);
    if (!(after_word && all_space(between))) {
      flush();
      out.append(raw(between));
    }
    if (have_pending && !iequals(pending_charset, w->charset)) flush();
    if (!have_pending) pending_charset = w->charset;
    have_pending = true;
    pending_bytes += w->bytes;
    pending_raw.append(s.substr(p, w->end - p));
    i = w->end;
    after_word = true;
  }
  flush();
  if (i < s.size()) out.append(raw(s.substr(i)));
  return out;
}

}  // namespace tegami::mail
