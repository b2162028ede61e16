#include "store/spool/spool_format.hpp"

#include <charconv>
#include <set>

#include <fmt/format.h>

namespace tegami::spool {

namespace {

using TimePoint = std::chrono::system_clock::time_point;

std::int64_t to_unix(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint from_unix(std::int64_t s) {
  return TimePoint(std::chrono::seconds(s));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

Error bad(std::size_t line, std::string_view what) {
  return Error::perm(fmt::format("envelope line {}: {}", line, what));
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_status(std::string_view s, RecipientStatus& out) {
  for (auto st : {RecipientStatus::kPending, RecipientStatus::kDelivered, RecipientStatus::kFailed,
                  RecipientStatus::kBounced}) {
    if (s == to_string(st)) {
      out = st;
      return true;
    }
  }
  return false;
}

}  // namespace

std::string escape_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '%') {
      out += fmt::format("%{:02X}", c);
    } else {
      out += ch;
    }
  }
  return out;
}

Result<std::string> unescape_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c >= 0x7f) return fail(Error::perm("unescaped control or 8-bit byte"));
    if (v[i] != '%') {
      out += v[i];
      continue;
    }
    if (i + 2 >= v.size()) return fail(Error::perm("bad %XX escape"));
    int hi = hex_value(v[i + 1]), lo = hex_value(v[i + 2]);
    if (hi < 0 || lo < 0) return fail(Error::perm("bad %XX escape"));
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string format_envelope(const QueueEntry& e) {
  std::string out;
  out += kEnvelopeMagic;
  out += '\n';
  out += fmt::format("id {}\n", escape_value(e.id));
  out += fmt::format("sender {}\n", escape_value(e.sender));
  out += fmt::format("created {}\n", to_unix(e.created));
  out += fmt::format("size {}\n", e.size);
  out += fmt::format("eight-bit {}\n", e.eight_bit ? 1 : 0);
  out += fmt::format("delay-warned {}\n", e.delay_warned ? 1 : 0);
  // Written only when set: envelopes of ASCII mail stay readable by older
  // versions, and an absent key reads as 0.
  if (e.smtputf8) out += "smtputf8 1\n";
  // RFC 3461 (issue 15): likewise only when given.
  if (e.ret != mail::DsnRet::kUnspecified) out += fmt::format("ret {}\n", mail::ret_text(e.ret));
  if (!e.envid.empty()) out += fmt::format("envid {}\n", escape_value(e.envid));
  if (e.double_bounce) out += "double-bounce 1\n";
  for (const auto& r : e.recipients) {
    out += fmt::format("rcpt {}\n", escape_value(r.address));
    out += fmt::format("status {}\n", to_string(r.status));
    out += fmt::format("attempts {}\n", r.attempts);
    out += fmt::format("next-attempt {}\n", to_unix(r.next_attempt));
    out += fmt::format("last-attempt {}\n", to_unix(r.last_attempt));
    out += fmt::format("status-code {}\n", escape_value(r.status_code));
    out += fmt::format("remote-mta {}\n", escape_value(r.remote_mta));
    out += fmt::format("diagnostic {}\n", escape_value(r.diagnostic));
    // Optional (issue 12): written only when set, so that most envelopes stay
    // readable by versions that do not know the key.
    if (!r.stage.empty()) out += fmt::format("stage {}\n", escape_value(r.stage));
    if (r.notify.given()) out += fmt::format("notify {}\n", mail::notify_text(r.notify));
    if (r.orcpt.given())
      out += fmt::format("orcpt {}\n", escape_value(r.orcpt.type + ";" + r.orcpt.address));
    if (r.relayed_dsn) out += "relayed-dsn 1\n";
  }
  out += "end\n";
  return out;
}

Result<QueueEntry> parse_envelope(std::string_view text) {
  QueueEntry e;
  std::size_t line_no = 0, pos = 0;
  bool ended = false;
  std::set<std::string> seen;  // keys of the current section (header or one recipient)
  const std::set<std::string_view> kHeaderKeys = {"id",        "sender",       "created",  "size",
                                                  "eight-bit", "delay-warned", "smtputf8", "ret",
                                                  "envid",     "double-bounce"};
  const std::set<std::string_view> kRcptKeys = {
      "status",     "attempts", "next-attempt", "last-attempt", "status-code", "remote-mta",
      "diagnostic", "stage",    "notify",       "orcpt",        "relayed-dsn"};
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return fail(bad(line_no + 1, "no line end (truncated?)"));
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (ended) return fail(bad(line_no, "text after 'end'"));
    if (line_no == 1) {
      if (line != kEnvelopeMagic) return fail(bad(1, "not a tegami queue envelope (version?)"));
      continue;
    }
    if (line == "end") {
      ended = true;
      continue;
    }
    auto sp = line.find(' ');
    if (sp == std::string_view::npos) return fail(bad(line_no, "no value"));
    std::string key(line.substr(0, sp));
    auto raw = line.substr(sp + 1);
    auto value = unescape_value(raw);
    if (!value) return fail(bad(line_no, value.error().message));
    if (key == "rcpt") {
      if (e.recipients.empty() && !seen.count("id")) return fail(bad(line_no, "rcpt before id"));
      e.recipients.emplace_back();
      e.recipients.back().address = *value;
      seen.clear();
      continue;
    }
    bool in_rcpt = !e.recipients.empty();
    if (in_rcpt ? !kRcptKeys.count(key) : !kHeaderKeys.count(key))
      return fail(bad(line_no, "unexpected key '" + key + "'"));
    if (!seen.insert(key).second) return fail(bad(line_no, "repeated key '" + key + "'"));
    bool ok = true;
    if (!in_rcpt) {
      if (key == "id") {
        e.id = *value;
        ok = valid_queue_id(e.id);
      } else if (key == "sender") {
        e.sender = *value;
      } else if (key == "created") {
        std::int64_t s = 0;
        ok = parse_number(raw, s);
        e.created = from_unix(s);
      } else if (key == "size") {
        ok = parse_number(raw, e.size);
      } else if (key == "eight-bit" || key == "delay-warned" || key == "smtputf8" ||
                 key == "double-bounce") {
        ok = raw == "0" || raw == "1";
        (key == "eight-bit"       ? e.eight_bit
         : key == "smtputf8"      ? e.smtputf8
         : key == "double-bounce" ? e.double_bounce
                                  : e.delay_warned) = raw == "1";
      } else if (key == "ret") {
        auto r = mail::parse_ret(raw);
        ok = r.has_value();
        if (ok) e.ret = *r;
      } else if (key == "envid") {
        e.envid = *value;
        ok = !e.envid.empty();
      }
    } else {
      auto& r = e.recipients.back();
      if (key == "status") {
        ok = parse_status(raw, r.status);
      } else if (key == "attempts") {
        ok = parse_number(raw, r.attempts);
      } else if (key == "next-attempt" || key == "last-attempt") {
        std::int64_t s = 0;
        ok = parse_number(raw, s);
        (key == "next-attempt" ? r.next_attempt : r.last_attempt) = from_unix(s);
      } else if (key == "status-code") {
        r.status_code = *value;
      } else if (key == "remote-mta") {
        r.remote_mta = *value;
      } else if (key == "diagnostic") {
        r.diagnostic = *value;
      } else if (key == "stage") {
        r.stage = *value;
      } else if (key == "notify") {
        auto n = mail::parse_notify(raw);
        ok = n.has_value();
        if (ok) r.notify = *n;
      } else if (key == "orcpt") {
        auto semi = value->find(';');
        ok = semi != std::string::npos && semi > 0 && semi + 1 < value->size();
        if (ok) {
          r.orcpt.type = value->substr(0, semi);
          r.orcpt.address = value->substr(semi + 1);
        }
      } else if (key == "relayed-dsn") {
        ok = raw == "0" || raw == "1";
        r.relayed_dsn = raw == "1";
      }
    }
    if (!ok) return fail(bad(line_no, "bad value for '" + key + "'"));
  }
  if (line_no == 0) return fail(Error::perm("empty envelope"));
  if (!ended) return fail(bad(line_no, "no 'end' line (truncated?)"));
  if (e.id.empty()) return fail(Error::perm("envelope without id"));
  if (e.recipients.empty()) return fail(Error::perm("envelope without recipients"));
  return e;
}

}  // namespace tegami::spool
