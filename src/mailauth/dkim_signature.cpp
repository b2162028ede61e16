#include "mailauth/dkim_signature.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "core/base64.hpp"

namespace tegami::mailauth {

namespace {

bool is_fws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}
std::string_view trim_fws(std::string_view s) {
  while (!s.empty() && is_fws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_fws(s.back())) s.remove_suffix(1);
  return s;
}
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// Splits "a : b:c" on ':' and trims FWS around each element (§3.5 h=, q=).
std::vector<std::string_view> split_colon(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    auto colon = s.find(':');
    out.push_back(trim_fws(s.substr(0, colon)));
    if (colon == std::string_view::npos) break;
    s.remove_prefix(colon + 1);
  }
  return out;
}

// A domain name as DKIM wants it for d= and s= (§3.5: sub-domain of RFC
// 5321; selectors may contain '_' in practice): labels of letters, digits,
// '-' and '_', 1..63 octets each, 253 in all.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

// *DIGIT up to `max_digits` (§3.5: 76 for l=, 12 for t= and x=).
std::optional<std::uint64_t> parse_number(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10)
      v = std::numeric_limits<std::uint64_t>::max();  // clamp: "more than any body"
    else
      v = v * 10 + d;
  }
  return v;
}

bool domain_is_under(std::string_view sub, std::string_view parent) {
  if (sub.size() == parent.size()) return iequals(sub, parent);
  if (sub.size() < parent.size() + 1) return false;
  return sub[sub.size() - parent.size() - 1] == '.' &&
         iequals(sub.substr(sub.size() - parent.size()), parent);
}

}  // namespace

std::optional<std::vector<DkimTag>> parse_tag_list(std::string_view text, std::string* why) {
  std::vector<DkimTag> tags;
  auto bad = [&](std::string msg) -> std::optional<std::vector<DkimTag>> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto semi = text.find(';', pos);
    std::string_view spec =
        text.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos);
    pos = semi == std::string_view::npos ? text.size() + 1 : semi + 1;
    std::string_view t = trim_fws(spec);
    if (t.empty()) {
      // Only a trailing ';' may leave an empty spec (§3.2: "tag-list =
      // tag-spec *( ";" tag-spec ) [ ";" ]").
      if (pos > text.size()) break;
      return bad("empty tag in tag-list");
    }
    auto eq = t.find('=');
    if (eq == std::string_view::npos) return bad("tag without '='");
    std::string_view name = trim_fws(t.substr(0, eq));
    std::string_view value = trim_fws(t.substr(eq + 1));
    if (name.empty() || !is_alpha(name[0])) return bad("bad tag name");
    for (char c : name)
      if (!(is_alpha(c) || is_digit(c) || c == '_')) return bad("bad tag name");
    // tval = 1*VALCHAR; VALCHAR = %x21-3A / %x3C-7E, with FWS between tvals.
    for (char c : value) {
      auto u = static_cast<unsigned char>(c);
      if (is_fws(c)) continue;
      if (u < 0x21 || u > 0x7e || c == ';') return bad("bad character in tag " + std::string(name));
    }
    for (const auto& x : tags)
      if (x.name == name) return bad("duplicate tag " + std::string(name));
    tags.push_back(DkimTag{std::string(name), std::string(value)});
  }
  return tags;
}

std::string_view to_string(DkimAlgorithm a) {
  switch (a) {
    case DkimAlgorithm::kRsaSha256:
      return "rsa-sha256";
    case DkimAlgorithm::kRsaSha1:
      return "rsa-sha1";
    case DkimAlgorithm::kEd25519Sha256:
      return "ed25519-sha256";
  }
  return "?";
}

std::string_view to_string(DkimCanon c) {
  return c == DkimCanon::kSimple ? "simple" : "relaxed";
}

DkimHash hash_of(DkimAlgorithm a) {
  return a == DkimAlgorithm::kRsaSha1 ? DkimHash::kSha1 : DkimHash::kSha256;
}

DkimKeyType key_type_of(DkimAlgorithm a) {
  return a == DkimAlgorithm::kEd25519Sha256 ? DkimKeyType::kEd25519 : DkimKeyType::kRsa;
}

std::optional<std::string> decode_dkim_base64(std::string_view text) {
  std::string compact;
  compact.reserve(text.size());
  for (char c : text)
    if (!is_fws(c)) compact.push_back(c);
  return base64_decode(compact);
}

std::optional<DkimSignature> parse_dkim_signature(std::string_view value, std::string* why,
                                                  DkimSignature* partial) {
  DkimSignature sig;
  std::string reason;
  auto done_bad = [&](std::string msg) -> std::optional<DkimSignature> {
    if (why) *why = std::move(msg);
    if (partial) *partial = sig;
    return std::nullopt;
  };
  if (value.size() > kMaxFieldValue) return done_bad("DKIM-Signature field too long");
  auto tags = parse_tag_list(value, &reason);
  if (!tags) return done_bad("signature syntax: " + reason);

  auto find = [&](std::string_view n) -> const std::string* {
    for (const auto& t : *tags)
      if (t.name == n) return &t.value;
    return nullptr;
  };
  // Keep what is readable for the report first, then check.
  if (auto* d = find("d")) sig.domain = to_lower(trim_fws(*d));
  if (auto* s = find("s")) sig.selector = to_lower(trim_fws(*s));
  if (auto* b = find("b")) {
    for (char c : *b)
      if (!is_fws(c)) sig.b_text.push_back(c);
  }
  if (auto* i = find("i")) sig.identity = *i;

  const std::string* v = find("v");
  if (!v) return done_bad("v= missing");
  if (*v != "1") return done_bad("unsupported version v=" + *v);
  const std::string* a = find("a");
  if (!a) return done_bad("a= missing");
  if (*a == "rsa-sha256")
    sig.algorithm = DkimAlgorithm::kRsaSha256;
  else if (*a == "rsa-sha1")
    sig.algorithm = DkimAlgorithm::kRsaSha1;
  else if (*a == "ed25519-sha256")
    sig.algorithm = DkimAlgorithm::kEd25519Sha256;
  else
    return done_bad("unknown algorithm a=" + *a);

  for (const char* required : {"b", "bh", "d", "h", "s"})
    if (!find(required)) return done_bad(std::string(required) + "= missing");

  auto b = decode_dkim_base64(*find("b"));
  if (!b || b->empty()) return done_bad("b= is not base64");
  sig.b = std::move(*b);
  auto bh = decode_dkim_base64(*find("bh"));
  if (!bh || bh->empty()) return done_bad("bh= is not base64");
  sig.bh = std::move(*bh);

  if (!valid_name(sig.domain)) return done_bad("bad domain d=");
  if (!valid_name(sig.selector)) return done_bad("bad selector s=");
  if (sig.key_name().size() > 253) return done_bad("key name too long");

  if (auto* c = find("c")) {
    auto parse_canon = [](std::string_view s, DkimCanon* out) {
      if (s == "simple")
        *out = DkimCanon::kSimple;
      else if (s == "relaxed")
        *out = DkimCanon::kRelaxed;
      else
        return false;
      return true;
    };
    std::string_view cv = *c;
    auto slash = cv.find('/');
    if (!parse_canon(cv.substr(0, slash), &sig.header_canon))
      return done_bad("unknown canonicalization c=" + *c);
    if (slash != std::string_view::npos && !parse_canon(cv.substr(slash + 1), &sig.body_canon))
      return done_bad("unknown canonicalization c=" + *c);
  }

  bool from = false;
  for (auto h : split_colon(*find("h"))) {
    if (h.empty()) return done_bad("empty header name in h=");
    for (char ch : h) {
      auto u = static_cast<unsigned char>(ch);
      if (u < 0x21 || u > 0x7e || ch == ':') return done_bad("bad header name in h=");
    }
    if (sig.headers.size() >= kMaxSignedHeaders) return done_bad("h= lists too many headers");
    sig.headers.push_back(to_lower(h));
    if (sig.headers.back() == "from") from = true;
  }
  if (!from) return done_bad("h= does not include From");

  if (auto* i = find("i")) {
    auto at = i->rfind('@');
    if (at == std::string::npos) return done_bad("i= has no '@'");
    sig.identity_domain = to_lower(std::string_view(*i).substr(at + 1));
    if (!valid_name(sig.identity_domain)) return done_bad("bad domain in i=");
    if (!domain_is_under(sig.identity_domain, sig.domain))
      return done_bad("i= domain is not d= or a subdomain of it");
  } else {
    sig.identity = "@" + sig.domain;
    sig.identity_domain = sig.domain;
  }

  if (auto* l = find("l")) {
    auto n = parse_number(*l, 76);
    if (!n) return done_bad("bad body length l=");
    sig.length = *n;
  }
  if (auto* q = find("q")) {
    bool dns = false;
    for (auto m : split_colon(*q))
      if (m == "dns/txt") dns = true;
    if (!dns) return done_bad("no supported query method in q=");
  }
  auto time_tag = [&](const char* n, std::optional<std::int64_t>* out) {
    auto* t = find(n);
    if (!t) return true;
    auto x = parse_number(*t, 12);
    if (!x) return false;
    *out = static_cast<std::int64_t>(*x);
    return true;
  };
  if (!time_tag("t", &sig.timestamp)) return done_bad("bad timestamp t=");
  if (!time_tag("x", &sig.expiration)) return done_bad("bad expiration x=");
  if (sig.timestamp && sig.expiration && *sig.expiration < *sig.timestamp)
    return done_bad("x= is before t=");
  if (partial) *partial = sig;
  return sig;
}

std::string check_signature_times(const DkimSignature& sig, std::int64_t now, std::int64_t skew) {
  if (sig.expiration && *sig.expiration < now) return "signature expired (x=)";
  if (sig.timestamp && *sig.timestamp > now + skew) return "signature timestamp in the future (t=)";
  return "";
}

std::optional<DkimKeyRecord> parse_dkim_key_record(std::string_view text, std::string* why) {
  auto bad = [&](std::string msg) -> std::optional<DkimKeyRecord> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  std::string reason;
  auto tags = parse_tag_list(text, &reason);
  if (!tags) return bad("key record syntax: " + reason);
  DkimKeyRecord rec;
  bool have_p = false;
  for (std::size_t i = 0; i < tags->size(); ++i) {
    const auto& t = (*tags)[i];
    if (t.name == "v") {
      if (i != 0) return bad("key record: v= not first");
      if (t.value != "DKIM1") return bad("key record: v=" + t.value);
    } else if (t.name == "k") {
      if (t.value == "rsa")
        rec.type = DkimKeyType::kRsa;
      else if (t.value == "ed25519")
        rec.type = DkimKeyType::kEd25519;
      else
        return bad("key record: unknown key type k=" + t.value);
    } else if (t.name == "h") {
      for (auto h : split_colon(t.value)) rec.hashes.emplace_back(h);
    } else if (t.name == "s") {
      bool email = false;
      for (auto s : split_colon(t.value))
        if (s == "email" || s == "*") email = true;
      if (!email) return bad("key record: not for email (s=" + t.value + ")");
    } else if (t.name == "t") {
      for (auto f : split_colon(t.value)) {
        if (f == "y") rec.testing = true;
        if (f == "s") rec.strict = true;
      }
    } else if (t.name == "p") {
      have_p = true;
      if (!t.value.empty()) {  // empty p=: revoked (§3.6.1)
        auto p = decode_dkim_base64(t.value);
        if (!p) return bad("key record: p= is not base64");
        rec.public_key = std::move(*p);
      }
    }
  }
  if (!have_p) return bad("key record: p= missing");
  return rec;
}

std::string strip_b_value(std::string_view value) {
  std::size_t pos = 0;
  while (pos < value.size()) {
    auto semi = value.find(';', pos);
    std::size_t end = semi == std::string_view::npos ? value.size() : semi;
    std::string_view spec = value.substr(pos, end - pos);
    auto eq = spec.find('=');
    if (eq != std::string_view::npos && trim_fws(spec.substr(0, eq)) == "b") {
      std::string out(value.substr(0, pos + eq + 1));
      out.append(value.substr(end));
      return out;
    }
    pos = end + 1;
  }
  return std::string(value);
}

std::string_view to_string(DkimResult r) {
  switch (r) {
    case DkimResult::kNone:
      return "none";
    case DkimResult::kPass:
      return "pass";
    case DkimResult::kFail:
      return "fail";
    case DkimResult::kPolicy:
      return "policy";
    case DkimResult::kNeutral:
      return "neutral";
    case DkimResult::kTempError:
      return "temperror";
    case DkimResult::kPermError:
      return "permerror";
  }
  return "none";
}

namespace {

// A comment's text: printable ASCII, parentheses and backslashes escaped.
std::string comment_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) {
      out.push_back('?');
      continue;
    }
    if (c == '(' || c == ')' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// A pvalue: a dot-atom-ish token as is, else a quoted-string.
std::string pvalue(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u > 0x7e ||
        std::string_view("()<>[]:;\\\",").find(c) != std::string_view::npos)
      plain = false;
  }
  if (plain) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) continue;
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

std::string auth_results_dkim(const DkimOutcome& o) {
  std::string out = "dkim=";
  out += to_string(o.result);
  std::string comment = o.reason;
  if (o.key_bits > 0) {
    std::string k = std::to_string(o.key_bits) + "-bit key";
    comment = comment.empty() ? k : comment + "; " + k;
  }
  if (o.testing) comment = comment.empty() ? "testing" : comment + "; testing";
  if (!comment.empty()) out += " (" + comment_text(comment) + ")";
  if (!o.domain.empty()) out += " header.d=" + pvalue(o.domain);
  if (!o.identity.empty()) out += " header.i=" + pvalue(o.identity);
  if (!o.selector.empty()) out += " header.s=" + pvalue(o.selector);
  if (!o.algorithm.empty()) out += " header.a=" + pvalue(o.algorithm);
  if (!o.b_prefix.empty()) out += " header.b=" + pvalue(o.b_prefix);
  return out;
}

}  // namespace tegami::mailauth
