#include "mail/dsn_params.hpp"

#include "mail/ascii.hpp"

namespace tegami::mail {

namespace {

Error bad(std::string what) {
  return Error::perm(std::move(what), 501, "5.5.4");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr bool is_xchar(char c) {
  return c >= '!' && c <= '~' && c != '+' && c != '=';
}

// RFC 822 atom characters (§3.3: any CHAR except specials, SPACE and CTLs),
// which is what an addr-type is (RFC 3461 §4.2, RFC 3464 §2.1.1).
constexpr bool is_atom_char(char c) {
  if (c <= ' ' || c > '~') return false;
  switch (c) {
    case '(':
    case ')':
    case '<':
    case '>':
    case '@':
    case ',':
    case ';':
    case ':':
    case '\\':
    case '"':
    case '.':
    case '[':
    case ']':
      return false;
    default:
      return true;
  }
}

}  // namespace

std::optional<std::string> xtext_decode(std::string_view x) {
  std::string out;
  out.reserve(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    char c = x[i];
    if (c == '+') {
      if (i + 2 >= x.size()) return std::nullopt;
      int hi = hex_value(x[i + 1]);
      int lo = hex_value(x[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (is_xchar(c)) {
      out += c;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string xtext_encode(std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    if (is_xchar(c)) {
      out += c;
    } else {
      auto u = static_cast<unsigned char>(c);
      out += '+';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

Result<DsnNotify> parse_notify(std::string_view value) {
  DsnNotify n;
  if (value.empty()) return fail(bad("Bad NOTIFY parameter"));
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t comma = value.find(',', pos);
    std::string_view item =
        value.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (iequals(item, "NEVER")) {
      n.bits |= DsnNotify::kNever;
    } else if (iequals(item, "SUCCESS")) {
      n.bits |= DsnNotify::kSuccess;
    } else if (iequals(item, "FAILURE")) {
      n.bits |= DsnNotify::kFailure;
    } else if (iequals(item, "DELAY")) {
      n.bits |= DsnNotify::kDelay;
    } else {
      return fail(bad("Bad NOTIFY parameter"));
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  // §4.1: "the NEVER keyword MUST appear by itself".
  if ((n.bits & DsnNotify::kNever) != 0 && n.bits != DsnNotify::kNever)
    return fail(bad("NOTIFY=NEVER cannot be combined with other values"));
  return n;
}

Result<DsnOrcpt> parse_orcpt(std::string_view value) {
  if (value.size() > kMaxOrcpt) return fail(bad("ORCPT parameter too long"));
  std::size_t semi = value.find(';');
  if (semi == std::string_view::npos || semi == 0) return fail(bad("Bad ORCPT parameter"));
  std::string_view type = value.substr(0, semi);
  for (char c : type)
    if (!is_atom_char(c)) return fail(bad("Bad ORCPT address type"));
  auto address = xtext_decode(value.substr(semi + 1));
  if (!address || address->empty()) return fail(bad("Bad ORCPT address"));
  for (char c : *address)
    if (c <= ' ' || c > '~') return fail(bad("Bad ORCPT address"));
  DsnOrcpt o;
  o.type.reserve(type.size());
  for (char c : type) o.type += ascii_lower(c);
  o.address = std::move(*address);
  return o;
}

Result<DsnRet> parse_ret(std::string_view value) {
  if (iequals(value, "FULL")) return DsnRet::kFull;
  if (iequals(value, "HDRS")) return DsnRet::kHdrs;
  return fail(bad("Bad RET parameter"));
}

Result<std::string> parse_envid(std::string_view value) {
  if (value.size() > kMaxEnvid) return fail(bad("ENVID parameter too long"));
  auto id = xtext_decode(value);
  if (!id || id->empty()) return fail(bad("Bad ENVID parameter"));
  for (char c : *id)
    if (c < ' ' || c > '~') return fail(bad("Bad ENVID parameter"));
  return std::move(*id);
}

std::string notify_text(DsnNotify n) {
  if (n.bits & DsnNotify::kNever) return "NEVER";
  std::string out;
  auto add = [&out](std::string_view w) {
    if (!out.empty()) out += ',';
    out += w;
  };
  if (n.bits & DsnNotify::kSuccess) add("SUCCESS");
  if (n.bits & DsnNotify::kFailure) add("FAILURE");
  if (n.bits & DsnNotify::kDelay) add("DELAY");
  return out;
}

std::string_view ret_text(DsnRet r) {
  switch (r) {
    case DsnRet::kFull:
      return "FULL";
    case DsnRet::kHdrs:
      return "HDRS";
    case DsnRet::kUnspecified:
      break;
  }
  return "";
}

std::string orcpt_text(const DsnOrcpt& o) {
  if (!o.given()) return {};
  return o.type + ";" + xtext_encode(o.address);
}

}  // namespace tegami::mail
