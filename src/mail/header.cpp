#include "mail/header.hpp"

#include <string>

#include "mail/ascii.hpp"

namespace tegami::mail {

namespace {

// One physical line: [begin, end) without its terminator; `next` is the
// offset after the terminator. A run of CRs followed by LF ends one line
// ("\r\r\n" is a broken CRLF, not an empty line); a CR not followed by LF is
// a bare-CR line end.
struct Line {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t next = 0;
};

Line next_line(std::string_view s, std::size_t pos) {
  Line l;
  l.begin = pos;
  std::size_t i = pos;
  while (i < s.size() && s[i] != '\n' && s[i] != '\r') ++i;
  l.end = i;
  if (i >= s.size()) {
    l.next = s.size();
  } else if (s[i] == '\n') {
    l.next = i + 1;
  } else {
    std::size_t j = i;
    while (j < s.size() && s[j] == '\r') ++j;
    l.next = (j < s.size() && s[j] == '\n') ? j + 1 : i + 1;
  }
  return l;
}

bool is_field_name_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 33 && u <= 126 && c != ':';
}

}  // namespace

std::string unfold(std::string_view folded) {
  std::string out;
  out.reserve(folded.size());
  for (char c : folded)
    if (c != '\r' && c != '\n') out.push_back(c);
  return out;
}

const HeaderField* MessageHeader::find(std::string_view name) const {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

std::vector<const HeaderField*> MessageHeader::find_all(std::string_view name) const {
  std::vector<const HeaderField*> out;
  for (const auto& f : fields)
    if (iequals(f.name, name)) out.push_back(&f);
  return out;
}

MessageHeader parse_header(std::string_view s) {
  MessageHeader h;
  h.body_offset = s.size();
  std::size_t pos = 0;
  std::size_t line_no = 0;
  bool dropped = false;

  // Appends a continuation line to the last field (RFC 5322 2.2.3).
  auto continue_field = [&](std::string_view text) {
    if (h.fields.empty()) return false;
    h.fields.back().value.append(text);
    return true;
  };

  while (pos < s.size()) {
    Line l = next_line(s, pos);
    ++line_no;
    std::string_view text = s.substr(l.begin, l.end - l.begin);

    if (text.empty()) {  // the blank line: the body follows
      h.body_offset = l.next;
      break;
    }
    if (line_no == 1 && text.substr(0, 5) == "From ") {
      h.has_envelope_line = true;
      pos = l.next;
      continue;
    }
    if (is_wsp(text.front())) {
      if (!continue_field(text))
        h.problems.push_back("line " + std::to_string(line_no) +
                             ": continuation line before any header field");
      pos = l.next;
      continue;
    }
    std::size_t colon = text.find(':');
    std::size_t name_end = colon;
    // Obsolete syntax allows whitespace before the colon (RFC 5322 4.5.2).
    while (name_end != std::string_view::npos && name_end > 0 && is_wsp(text[name_end - 1]))
      --name_end;
    bool valid = colon != std::string_view::npos && name_end > 0;
    for (std::size_t i = 0; valid && i < name_end; ++i) valid = is_field_name_char(text[i]);

    if (!valid) {
      if (colon == std::string_view::npos && !h.fields.empty()) {
        // No colon at all: most likely the body, with the blank line missing.
        h.problems.push_back("line " + std::to_string(line_no) +
                             ": header section not ended by a blank line");
        h.body_offset = l.begin;
        break;
      }
      h.problems.push_back("line " + std::to_string(line_no) + ": not a header field, skipped");
      pos = l.next;
      continue;
    }
    if (h.fields.size() >= kMaxHeaderFields) {
      if (!dropped) h.problems.push_back("more than 10000 header fields; the rest are ignored");
      dropped = true;
      pos = l.next;
      continue;
    }
    HeaderField f;
    f.name = std::string(text.substr(0, name_end));
    f.value = std::string(text.substr(colon + 1));
    f.line = line_no;
    h.fields.push_back(std::move(f));
    pos = l.next;
  }
  for (auto& f : h.fields) f.value = std::string(trim(f.value));
  return h;
}

}  // namespace tegami::mail
