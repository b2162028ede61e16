#include "mailauth/dkim_canon.hpp"

namespace tegami::mailauth {

namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::string_view RawHeaderField::value() const {
  std::string_view r = raw;
  auto colon = r.find(':');
  if (colon == std::string_view::npos) return {};
  r.remove_prefix(colon + 1);
  if (r.size() >= 2 && r.substr(r.size() - 2) == "\r\n") r.remove_suffix(2);
  return r;
}

std::string canon_header(DkimCanon c, const RawHeaderField& f) {
  if (c == DkimCanon::kSimple) return f.raw;
  std::string out;
  out.reserve(f.raw.size());
  for (char ch : f.name) out.push_back(lower(ch));
  // The name as stored has no trailing WSP; it never has leading WSP (a
  // line starting with WSP continues the previous field).
  while (!out.empty() && is_wsp(out.back())) out.pop_back();
  out.push_back(':');
  bool wsp = false;
  bool any = false;
  for (char ch : f.value()) {
    if (ch == '\r' || ch == '\n') continue;  // unfold (§3.4.2)
    if (is_wsp(ch)) {
      wsp = true;
      continue;
    }
    if (wsp && any) out.push_back(' ');
    wsp = false;
    any = true;
    out.push_back(ch);
  }
  out += "\r\n";
  return out;
}

std::string canon_signature_field(DkimCanon c, const RawHeaderField& f) {
  RawHeaderField g;
  g.name = f.name;
  auto colon = f.raw.find(':');
  g.raw = f.raw.substr(0, colon == std::string::npos ? f.raw.size() : colon + 1);
  g.raw += strip_b_value(f.value());
  g.raw += "\r\n";
  std::string out = canon_header(c, g);
  out.resize(out.size() - 2);
  return out;
}

std::string canon_selected_headers(DkimCanon c, const std::vector<RawHeaderField>& fields,
                                   const std::vector<std::string>& names) {
  std::vector<bool> used(fields.size(), false);
  std::string out;
  for (const auto& n : names) {
    for (std::size_t i = fields.size(); i-- > 0;) {
      if (used[i] || fields[i].name.size() != n.size()) continue;
      bool same = true;
      for (std::size_t k = 0; k < n.size() && same; ++k)
        same = lower(fields[i].name[k]) == lower(n[k]);
      if (!same) continue;
      used[i] = true;
      out += canon_header(c, fields[i]);
      break;
    }
  }
  return out;
}

// ---- body ----

void BodyCanonicalizer::put(std::string_view s) {
  buf_.append(s);
  any_output_ = true;
  if (buf_.size() >= kFlushAt) flush();
}

void BodyCanonicalizer::flush() {
  if (buf_.empty()) return;
  sink_(buf_);
  buf_.clear();
}

void BodyCanonicalizer::content(char c) {
  if (canon_ == DkimCanon::kRelaxed && is_wsp(c)) {
    pending_wsp_ = true;
    return;
  }
  if (line_empty_) {
    // The empty lines held back were not the end of the body after all.
    for (; empty_lines_ > 0; --empty_lines_) put("\r\n");
  }
  if (pending_wsp_) put(" ");
  pending_wsp_ = false;
  buf_.push_back(c);
  any_output_ = true;
  line_empty_ = false;
  if (buf_.size() >= kFlushAt) flush();
}

void BodyCanonicalizer::end_line() {
  pending_wsp_ = false;  // relaxed: WSP at the end of a line is dropped
  if (line_empty_) {
    ++empty_lines_;
  } else {
    put("\r\n");
    line_empty_ = true;
  }
}

void BodyCanonicalizer::feed(std::string_view in) {
  for (char c : in) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        end_line();
        continue;
      }
      content('\r');  // a CR not followed by LF is an ordinary octet
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else if (c == '\n') {
      end_line();  // a lone LF ends a line like CRLF
    } else {
      content(c);
    }
  }
  flush();
}

void BodyCanonicalizer::finish() {
  if (pending_cr_) {
    pending_cr_ = false;
    content('\r');
  }
  if (!line_empty_) put("\r\n");  // an unterminated last line gets its CRLF
  line_empty_ = true;
  pending_wsp_ = false;
  empty_lines_ = 0;  // trailing empty lines are ignored (§3.4.3, §3.4.4)
  if (canon_ == DkimCanon::kSimple && !any_output_) put("\r\n");
  flush();
}

// ---- message ----

void MessageReader::feed(std::string_view bytes) {
  std::size_t i = 0;
  auto keep = [this](char c) {
    if (block_.size() < kMaxHeaderBlock) {
      block_.push_back(c);
    } else {
      overflow_ = true;
      ++dropped_;
    }
  };
  for (; i < bytes.size() && !header_done_; ++i) {
    char c = bytes[i];
    if (c == '\n') {
      if (!last_cr_) keep('\r');
      keep('\n');
      last_cr_ = false;
      if (line_len_ == 0) {
        header_done_ = true;
        end_of_header();
      }
      line_len_ = 0;
      continue;
    }
    keep(c);
    last_cr_ = c == '\r';
    if (c != '\r' && line_len_ < 1'000'000) ++line_len_;
  }
  if (header_done_ && i < bytes.size()) on_body_(bytes.substr(i));
}

void MessageReader::finish() {
  if (header_done_) return;
  // The message ended inside the header (no body): close the last line.
  if (line_len_ > 0 || last_cr_) {
    if (!last_cr_) block_ += "\r";
    block_ += "\n";
  }
  header_done_ = true;
  end_of_header();
}

void MessageReader::end_of_header() {
  if (overflow_) {
    block_.clear();
    block_.shrink_to_fit();
    return;
  }
  std::string_view b = block_;
  std::size_t pos = 0;
  RawHeaderField* cur = nullptr;
  while (pos < b.size()) {
    auto eol = b.find("\r\n", pos);
    // Every line of block_ ends in CRLF except after a lone CR at the very end.
    std::size_t end = eol == std::string_view::npos ? b.size() : eol + 2;
    std::string_view line = b.substr(pos, end - pos);
    pos = end;
    if (line == "\r\n") break;  // the empty line ending the header
    if (is_wsp(line[0])) {
      if (cur) cur->raw.append(line);
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || fields_.size() >= kMaxFields) {
      cur = nullptr;  // not a field: neither it nor its continuations are signable
      continue;
    }
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
    fields_.push_back(RawHeaderField{std::string(name), std::string(line)});
    cur = &fields_.back();
  }
  block_.clear();
  block_.shrink_to_fit();
}

}  // namespace tegami::mailauth
