#include "mail/received.hpp"

#include <array>

#include "mail/ascii.hpp"
#include "mail/ip.hpp"

namespace tegami::mail {

namespace {

enum class Clause { None, From, By, Via, With, Id, For };

struct Token {
  bool comment = false;
  std::string_view text;  // a word, or a comment's inner text
  std::size_t pos = 0;    // offset of the token in the clause text
};

std::optional<Clause> keyword(std::string_view w) {
  if (iequals(w, "from")) return Clause::From;
  if (iequals(w, "by")) return Clause::By;
  if (iequals(w, "via")) return Clause::Via;
  if (iequals(w, "with")) return Clause::With;
  if (iequals(w, "id")) return Clause::Id;
  if (iequals(w, "for")) return Clause::For;
  return std::nullopt;
}

// Offset just past the comment opening at s[pos] ('('), nested and with
// quoted pairs (RFC 5322 3.2.2); `closed` tells whether it was terminated.
std::size_t skip_comment(std::string_view s, std::size_t pos, bool& closed) {
  int depth = 0;
  for (std::size_t i = pos; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      ++i;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth == 0) {
      closed = true;
      return i + 1;
    }
  }
  closed = false;
  return s.size();
}

std::vector<Token> tokenize(std::string_view s, std::vector<std::string>& problems) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (is_space(c) || c == ';') {
      ++i;
    } else if (c == '(') {
      bool closed = false;
      std::size_t end = skip_comment(s, i, closed);
      if (!closed) problems.push_back("unterminated comment");
      out.push_back({true, s.substr(i + 1, (closed ? end - 1 : end) - (i + 1)), i});
      i = end;
    } else if (c == ')') {
      problems.push_back("unbalanced ')'");
      ++i;
    } else {
      std::size_t b = i;
      while (i < s.size() && !is_space(s[i]) && s[i] != '(' && s[i] != ';' && s[i] != ')') {
        if (s[i] == '<') {  // an angle address stays one word
          std::size_t close = s.find('>', i);
          if (close != std::string_view::npos) {
            i = close + 1;
            continue;
          }
        }
        ++i;
      }
      out.push_back({false, s.substr(b, i - b), b});
    }
  }
  return out;
}

// The last ';' outside comments; npos when none.
std::size_t last_semicolon(std::string_view s) {
  int depth = 0;
  std::size_t last = std::string_view::npos;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && depth > 0) {
      ++i;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (c == ';' && depth == 0) {
      last = i;
    }
  }
  if (last == std::string_view::npos && depth > 0) last = s.rfind(';');  // broken comment
  return last;
}

std::string strip_dot(std::string_view host) {
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  return std::string(host);
}

// A comment with nested comments removed (they carry notes, not addresses).
std::string flat_comment(std::string_view c) {
  std::string out;
  int depth = 0;
  for (char ch : c) {
    if (ch == '(') {
      ++depth;
    } else if (ch == ')') {
      if (depth > 0) --depth;
    } else if (depth == 0) {
      out.push_back(ch);
    }
  }
  return out;
}

bool looks_like_host(std::string_view w) {
  if (w.empty() || w.size() > 255 || iequals(w, "unknown")) return false;
  for (char c : w) {
    if (!(is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_')) return false;
  }
  return true;
}

// The word after `key` in `text` ("helo=NAME", "HELO NAME"), or nullopt.
std::optional<std::string> word_after(std::string_view text, std::string_view key) {
  std::size_t p = ifind(text, key);
  while (p != std::string_view::npos && p > 0 && !is_space(text[p - 1]) && text[p - 1] != '(')
    p = ifind(text, key, p + 1);
  if (p == std::string_view::npos) return std::nullopt;
  std::size_t b = p + key.size();
  std::size_t e = b;
  while (e < text.size() && !is_space(text[e]) && text[e] != ')') ++e;
  return std::string(text.substr(b, e - b));
}

bool has_tls_hint(std::string_view t) {
  static constexpr std::string_view kHints[] = {
      "using tls",          "using ssl", "version=tls", "version=ssl", "cipher=",
      "with cipher",        "tlsv1",     "tls1",        "sslv3",       "ssl3",
      "transport security", "tls_",      "(tls)",       "starttls"};
  for (auto h : kHints)
    if (ifind(t, h) != std::string_view::npos) return true;
  return false;
}

bool has_auth_hint(std::string_view t) {
  for (std::size_t p = ifind(t, "authenticated"); p != std::string_view::npos;
       p = ifind(t, "authenticated", p + 1)) {
    if (p > 0 && is_alpha(t[p - 1])) continue;  // "unauthenticated"
    if (p >= 4 && iequals(t.substr(p - 4, 4), "not ")) continue;
    return true;
  }
  return false;
}

// Reads the comments describing the sending host into `r`.
struct FromComment {
  std::optional<std::string> helo;  // an explicit HELO (Exim helo=, qmail HELO)
  bool named = false;               // the comment named a host (even "unknown")
  std::string rdns;
};

void read_from_comment(std::string_view raw, Received& r, FromComment& fc) {
  if (ifind(raw, "may be forged") != std::string_view::npos) r.rdns_may_be_forged = true;
  std::string text = flat_comment(raw);
  std::string padded = text + " ";  // "(HELO )": an empty HELO is still a HELO
  std::string_view t = trim(text);
  if (auto h = word_after(t, "helo=")) fc.helo = *h;
  if (auto h = word_after(padded, "HELO ")) fc.helo = *h;
  if (auto h = word_after(padded, "EHLO ")) fc.helo = *h;
  if (auto id = word_after(t, "ident=")) r.from_ident = *id;
  if (auto acct = word_after(t, "account ")) r.from_ident = *acct;

  std::size_t open = t.find('[');
  if (open != std::string_view::npos) {
    std::size_t close = t.find(']', open);
    if (close != std::string_view::npos) {
      std::string_view literal = t.substr(open + 1, close - open - 1);
      if (auto ip = normalize_ip(t.substr(open, close - open + 1))) {
        if (r.from_ip.empty()) r.from_ip = *ip;
      } else if (iequals(literal, "local") || iequals(literal, "localhost") ||
                 istarts_with(literal, "unix")) {
        // OpenSMTPD and others: a local (Unix socket) connection, no address
      } else {
        r.problems.push_back("unreadable address " + std::string(t.substr(open, close - open + 1)));
      }
    }
    std::string_view name = trim(t.substr(0, open));
    if (!name.empty() && name.find(' ') == std::string_view::npos &&
        name.find('=') == std::string_view::npos) {
      std::size_t at = name.rfind('@');
      if (at != std::string_view::npos) {
        r.from_ident = std::string(name.substr(0, at));
        name = name.substr(at + 1);
      }
      fc.named = true;
      fc.rdns = strip_dot(name);
    }
    return;
  }
  // No brackets: "(1.2.3.4)", "(2a01::34)", "(ident@1.2.3.4)", "(HELO x) ..."
  std::string_view first = t.substr(0, t.find(' '));
  std::size_t at = first.rfind('@');
  std::string_view addr = at == std::string_view::npos ? first : first.substr(at + 1);
  if (auto ip = normalize_ip(addr)) {
    if (r.from_ip.empty()) r.from_ip = *ip;
    if (at != std::string_view::npos) r.from_ident = std::string(first.substr(0, at));
  }
}

void read_by_comment(std::string_view raw, Received& r) {
  std::string text = flat_comment(raw);
  std::string_view t = trim(text);
  if (!r.by_ip.empty()) return;
  std::string_view first = t.substr(0, t.find(' '));
  if (auto ip = normalize_ip(first)) r.by_ip = *ip;
}

std::string join(const std::vector<std::string_view>& words, std::size_t from = 0) {
  std::string out;
  for (std::size_t i = from; i < words.size(); ++i) {
    if (!out.empty()) out.push_back(' ');
    out.append(words[i]);
  }
  return out;
}

// Word positions where a date could begin, for fields without ';'.
bool could_start_date(const std::vector<Token>& toks, std::size_t i) {
  std::string_view w = toks[i].text;
  if (w.size() >= 3) {
    std::string_view head = w.substr(0, 3);
    static constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    for (auto d : kDays)
      if (iequals(head, d) && (w.size() == 3 || w[3] == ',')) return true;
  }
  if (w.size() <= 2 && !w.empty() && is_digit(w[0]) && (w.size() == 1 || is_digit(w[1]))) {
    if (i + 1 < toks.size() && !toks[i + 1].comment && toks[i + 1].text.size() >= 3) {
      static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                     "jul", "aug", "sep", "oct", "nov", "dec"};
      for (auto m : kMonths)
        if (iequals(toks[i + 1].text.substr(0, 3), m)) return true;
    }
  }
  return w.size() >= 10 && is_digit(w[0]) && w[4] == '-' && w[7] == '-';
}

}  // namespace

bool is_known_protocol(std::string_view word) {
  std::string w = to_lower(word);
  if (w == "http" || w == "https" || w == "smtps" || w == "smtpsa") return true;
  std::string_view v = w;
  if (v.starts_with("utf8")) v.remove_prefix(4);
  if (v.starts_with("e")) v.remove_prefix(1);
  if (!(v.starts_with("smtp") || v.starts_with("lmtp"))) return false;
  v.remove_prefix(4);
  return v.empty() || v == "a" || v == "s" || v == "sa";
}

Received parse_received(std::string_view value) {
  Received r;
  std::string_view clauses = value;

  std::size_t semi = last_semicolon(value);
  if (semi != std::string_view::npos) {
    clauses = value.substr(0, semi);
    std::string_view date_part = trim(value.substr(semi + 1));
    r.date_text = std::string(date_part);
    r.date = parse_date(date_part);
    if (!r.date)
      r.problems.push_back(date_part.empty() ? "no date after ';'"
                                             : "unreadable date '" + r.date_text + "'");
  }

  if (semi != std::string_view::npos) {
    // Comments after the date can still carry TLS hints ("...; (version=TLSv1...) date").
    std::vector<std::string> ignored;
    for (const Token& t : tokenize(value.substr(semi + 1), ignored))
      if (t.comment) r.comments.emplace_back(t.text);
  }
  std::vector<Token> toks = tokenize(clauses, r.problems);
  if (semi == std::string_view::npos) {
    for (std::size_t i = 0; i < toks.size(); ++i) {
      if (toks[i].comment || !could_start_date(toks, i)) continue;
      if (auto d = parse_date(clauses.substr(toks[i].pos))) {
        r.date = d;
        r.date_text = std::string(trim(clauses.substr(toks[i].pos)));
        toks.resize(i);
        break;
      }
    }
    r.problems.push_back(r.date ? "no ';' before the date" : "no date");
  }

  Clause cur = Clause::None;
  std::array<bool, 7> seen{};
  bool taken = false;
  std::string_view from_token;
  std::vector<std::string_view> from_comments, by_comments, from_words, with_words, via_words,
      leftovers;
  for (const Token& tok : toks) {
    if (tok.comment) {
      r.comments.emplace_back(tok.text);
      if (cur == Clause::From) from_comments.push_back(tok.text);
      if (cur == Clause::By) by_comments.push_back(tok.text);
      continue;
    }
    auto kw = keyword(tok.text);
    if (kw && !seen[static_cast<int>(*kw)] && (*kw != Clause::From || cur == Clause::None)) {
      cur = *kw;
      seen[static_cast<int>(*kw)] = true;
      taken = false;
      continue;
    }
    switch (cur) {
      case Clause::From:
        if (!taken) {
          from_token = tok.text, taken = true;
        } else if (tok.text.starts_with('[')) {
          from_words.push_back(tok.text);
        } else {
          leftovers.push_back(tok.text);
        }
        break;
      case Clause::By:
        if (!taken) {
          r.by_host = strip_dot(tok.text), taken = true;
        } else {
          leftovers.push_back(tok.text);
        }
        break;
      case Clause::Id:
        if (!taken) {
          r.id = std::string(tok.text), taken = true;
        } else {
          leftovers.push_back(tok.text);
        }
        break;
      case Clause::For:
        if (!taken) {
          r.for_addr = std::string(tok.text), taken = true;
        } else {
          leftovers.push_back(tok.text);
        }
        break;
      case Clause::With:
        with_words.push_back(tok.text);
        break;
      case Clause::Via:
        via_words.push_back(tok.text);
        break;
      case Clause::None:
        leftovers.push_back(tok.text);
        break;
    }
  }
  r.has_from = seen[static_cast<int>(Clause::From)];
  r.has_by = seen[static_cast<int>(Clause::By)];
  r.via = join(via_words);

  // The sending host: the "from" word, the comments after it, a bare "[ip]".
  FromComment fc;
  for (auto c : from_comments) read_from_comment(c, r, fc);
  for (auto w : from_words)
    if (r.from_ip.empty())
      if (auto ip = normalize_ip(w)) r.from_ip = *ip;
  auto token_ip = normalize_ip(from_token);
  if (r.from_ip.empty() && token_ip) r.from_ip = *token_ip;
  if (fc.helo) {
    r.helo = *fc.helo;
    if (!token_ip && looks_like_host(from_token)) r.from_host = strip_dot(from_token);
  } else {
    r.helo = std::string(from_token);
    if (fc.named) {
      if (looks_like_host(fc.rdns)) r.from_host = fc.rdns;
    } else if (!token_ip && looks_like_host(from_token)) {
      r.from_host = strip_dot(from_token);
    }
  }
  if (r.has_from && from_token.empty() && r.helo.empty()) r.problems.push_back("empty 'from'");
  if (r.has_by && r.by_host.empty()) r.problems.push_back("empty 'by'");
  for (auto c : by_comments) read_by_comment(c, r);
  if (r.by_ip.empty())
    if (auto ip = normalize_ip(r.by_host)) r.by_ip = *ip;

  // Protocol, TLS and authentication.
  bool known = !with_words.empty() && is_known_protocol(with_words[0]);
  r.with = known ? std::string(with_words[0]) : join(with_words);
  bool tls_hint = known && with_words.size() > 1 && has_tls_hint(join(with_words, 1));
  bool auth_hint = false;
  for (const auto& c : r.comments) {
    tls_hint = tls_hint || has_tls_hint(c);
    auth_hint = auth_hint || has_auth_hint(c);
  }
  if (known) {
    std::string p = to_lower(with_words[0]);
    bool s = p.ends_with("s") || p.ends_with("sa");
    bool a = p.ends_with("a");
    r.tls = s || tls_hint;
    r.authenticated = a || auth_hint;
    if (p == "smtpsa") r.authenticated = true;
  } else {
    if (tls_hint) r.tls = true;
    if (auth_hint) r.authenticated = true;
  }
  if (!r.has_from && !r.has_by && r.comments.empty())
    r.problems.push_back("neither 'from' nor 'by'");
  if (!leftovers.empty()) r.problems.push_back("unparsed text '" + join(leftovers) + "'");
  return r;
}

namespace {

std::string sanitize_client_text(std::string_view s, bool allow_space = false) {
  std::string out;
  for (char c : s.substr(0, 255)) {
    auto u = static_cast<unsigned char>(c);
    if (allow_space && c == ' ') {
      out.push_back(c);
      continue;
    }
    bool bad = u < 0x21 || u > 0x7E || c == '(' || c == ')' || c == '\\' || c == '<' || c == '>' ||
               c == ';' || c == '"';
    out.push_back(bad ? '?' : c);
  }
  return out;
}

}  // namespace

std::string format_received(const ReceivedStamp& st) {
  std::string ip = st.ip;
  if (ip.find(':') != std::string::npos) ip = "IPv6:" + ip;
  std::string out =
      "from " + (st.helo.empty() ? std::string("unknown") : sanitize_client_text(st.helo));
  out += " (" + (st.rdns.empty() ? std::string("unknown") : sanitize_client_text(st.rdns)) + " [" +
         sanitize_client_text(ip) + "])";
  if (!st.tls_info.empty()) out += "\r\n\t(using " + sanitize_client_text(st.tls_info, true) + ")";
  if (!st.authenticated.empty())
    out += "\r\n\t(Authenticated sender: " + sanitize_client_text(st.authenticated) + ")";
  out += "\r\n\tby " + sanitize_client_text(st.by_host) + " (tegami) with " +
         sanitize_client_text(st.protocol.empty() ? "ESMTP" : st.protocol);
  if (!st.id.empty()) out += " id " + sanitize_client_text(st.id);
  if (!st.for_addr.empty()) out += "\r\n\tfor <" + sanitize_client_text(st.for_addr) + ">";
  out += "; " + format_rfc5322_date(st.time, st.offset_minutes);
  return out;
}

std::string format_local_received(const LocalStamp& st) {
  std::string out = "from localhost\r\n\tby " + sanitize_client_text(st.by_host) + " (tegami)";
  if (!st.id.empty()) out += " id " + sanitize_client_text(st.id);
  out += "; " + format_rfc5322_date(st.time, st.offset_minutes);
  return out;
}

}  // namespace tegami::mail
