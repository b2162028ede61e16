#include "mail/charset.hpp"

#include <iconv.h>

#include <cerrno>
#include <string>

#include "mail/ascii.hpp"

namespace tegami::mail {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at s[i], or 0 (RFC 3629 section 4).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  return n;
}

struct Iconv {
  iconv_t cd;
  explicit Iconv(const char* from) : cd(iconv_open("UTF-8", from)) {}
  ~Iconv() {
    if (ok()) iconv_close(cd);
  }
  Iconv(const Iconv&) = delete;
  Iconv& operator=(const Iconv&) = delete;
  bool ok() const { return cd != reinterpret_cast<iconv_t>(-1); }
};

// Runs iconv over the whole input; an undecodable byte becomes U+FFFD and
// decoding resumes after it.
std::string run_iconv(Iconv& conv, std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2 + 16);
  char buf[1024];
  char* in = const_cast<char*>(bytes.data());
  std::size_t in_left = bytes.size();
  while (true) {
    char* o = buf;
    std::size_t o_left = sizeof buf;
    std::size_t r = in_left > 0 ? iconv(conv.cd, &in, &in_left, &o, &o_left)
                                : iconv(conv.cd, nullptr, nullptr, &o, &o_left);
    out.append(buf, static_cast<std::size_t>(o - buf));
    if (r != static_cast<std::size_t>(-1)) {
      if (in_left == 0) {
        // Flush the shift state (stateful encodings) and stop.
        o = buf;
        o_left = sizeof buf;
        iconv(conv.cd, nullptr, nullptr, &o, &o_left);
        out.append(buf, static_cast<std::size_t>(o - buf));
        break;
      }
      continue;
    }
    if (errno == E2BIG) continue;
    // EILSEQ or EINVAL (truncated sequence): replace one byte, reset, go on.
    out.append(kReplacement);
    if (in_left == 0) break;
    ++in;
    --in_left;
    iconv(conv.cd, nullptr, nullptr, nullptr, nullptr);
    if (in_left == 0) break;
  }
  return sanitize_utf8(out);
}

// ISO-2022-JP (RFC 1468) and its common extensions, to CP932 bytes.
std::string iso2022jp_to_cp932(std::string_view s) {
  enum class Set { Ascii, Roman, Katakana, Kanji, Unknown };
  Set set = Set::Ascii;
  bool shifted = false;  // SO: half-width katakana until SI
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0x1B) {
      std::string_view esc = s.substr(i + 1, 3);
      if (esc.substr(0, 2) == "(B") {
        set = Set::Ascii, i += 2;
      } else if (esc.substr(0, 2) == "(J" || esc.substr(0, 2) == "(H") {
        set = Set::Roman, i += 2;
      } else if (esc.substr(0, 2) == "(I") {
        set = Set::Katakana, i += 2;
      } else if (esc.substr(0, 2) == "$@" || esc.substr(0, 2) == "$B") {
        set = Set::Kanji, i += 2;
      } else if (esc.size() == 3 && esc[0] == '$' && esc[1] == '(') {
        set = (esc[2] == 'B' || esc[2] == '@') ? Set::Kanji : Set::Unknown, i += 3;
      } else {
        out.append(kReplacement);
      }
      continue;
    }
    if (c == 0x0E) {
      shifted = true;
      continue;
    }
    if (c == 0x0F) {
      shifted = false;
      continue;
    }
    if (c == '\r' || c == '\n') {  // a line end resets to ASCII (RFC 1468)
      set = Set::Ascii;
      shifted = false;
      out.push_back(static_cast<char>(c));
      continue;
    }
    if ((shifted || set == Set::Katakana) && c >= 0x21 && c <= 0x5F) {
      out.push_back(static_cast<char>(c + 0x80));
      continue;
    }
    if ((set == Set::Kanji || set == Set::Unknown) && c >= 0x21 && c <= 0x7E) {
      if (i + 1 >= s.size()) {
        out.push_back('\xFF');  // invalid in CP932: becomes U+FFFD
        continue;
      }
      unsigned char c2 = static_cast<unsigned char>(s[i + 1]);
      ++i;
      if (set == Set::Unknown || c2 < 0x21 || c2 > 0x7E) {
        out.push_back('\xFF');
        continue;
      }
      unsigned s1 = ((c - 0x21u) >> 1) + 0x81u;
      if (s1 > 0x9F) s1 += 0x40;
      unsigned s2;
      if (c & 1) {
        s2 = c2 + 0x1Fu;
        if (s2 >= 0x7F) ++s2;
      } else {
        s2 = c2 + 0x7Eu;
      }
      out.push_back(static_cast<char>(s1));
      out.push_back(static_cast<char>(s2));
      continue;
    }
    if (c >= 0x80) {
      out.push_back('\xFF');
      continue;
    }
    out.push_back(static_cast<char>(c));
  }
  return out;
}

// Maps a MIME charset label to the iconv name real mail means by it.
std::string iconv_name(std::string_view label) {
  std::string l = to_lower(trim(label));
  if (l == "shift_jis" || l == "shift-jis" || l == "sjis" || l == "x-sjis" || l == "ms_kanji" ||
      l == "csshiftjis" || l == "windows-31j" || l == "cp932" || l == "ms932" || l == "x-ms-cp932")
    return "CP932";
  if (l == "euc-jp" || l == "eucjp" || l == "x-euc-jp" || l == "cseucpkdfmtjapanese" ||
      l == "x-euc")
    return "EUC-JP-MS";
  if (l == "gb2312" || l == "gbk" || l == "x-gbk" || l == "cp936" || l == "euc-cn" ||
      l == "csgb2312" || l == "gb_2312-80" || l == "chinese" || l == "gb18030")
    return "GB18030";
  if (l == "big5" || l == "x-big5" || l == "cn-big5" || l == "csbig5" || l == "big5-hkscs" ||
      l == "cp950")
    return "BIG5-HKSCS";
  if (l == "iso-8859-1" || l == "iso8859-1" || l == "latin1" || l == "l1" || l == "us-ascii" ||
      l == "ascii" || l == "iso_8859-1" || l == "cp1252" || l == "x-cp1252")
    return "WINDOWS-1252";
  if (l == "euc-kr" || l == "ks_c_5601-1987" || l == "ks_c_5601" || l == "korean" ||
      l == "x-windows-949" || l == "cp949")
    return "CP949";
  return std::string(trim(label));
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out.append(kReplacement);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::optional<std::string> to_utf8(std::string_view bytes, std::string_view charset) {
  std::string l = to_lower(trim(charset));
  if (l == "utf-8" || l == "utf8") return sanitize_utf8(bytes);
  if ((l == "us-ascii" || l == "ascii") && is_valid_utf8(bytes)) return std::string(bytes);
  if (l.starts_with("iso-2022-jp") || l == "iso2022jp" || l == "csiso2022jp" || l == "cp50220" ||
      l == "cp50221" || l == "cp50222") {
    Iconv conv("CP932");
    if (!conv.ok()) return std::nullopt;
    return run_iconv(conv, iso2022jp_to_cp932(bytes));
  }
  std::string name = iconv_name(charset);
  if (name.empty()) return std::nullopt;
  Iconv conv(name.c_str());
  if (!conv.ok()) {
    if (name == "EUC-JP-MS") {
      Iconv fallback("EUC-JP");
      if (fallback.ok()) return run_iconv(fallback, bytes);
    }
    return std::nullopt;
  }
  return run_iconv(conv, bytes);
}

std::string raw_to_utf8(std::string_view bytes) {
  if (bytes.find("\x1B$") != std::string_view::npos ||
      bytes.find("\x1B(") != std::string_view::npos)
    return to_utf8(bytes, "iso-2022-jp").value_or(sanitize_utf8(bytes));
  return sanitize_utf8(bytes);
}

}  // namespace tegami::mail
