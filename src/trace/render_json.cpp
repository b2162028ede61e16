#include <optional>
#include <string>
#include <string_view>

#include "mail/charset.hpp"
#include "mail/date.hpp"
#include "trace/render.hpp"

namespace tegami::trace {

namespace {

using nlohmann::ordered_json;

ordered_json str_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return mail::sanitize_utf8(s);
}

template <class T>
ordered_json opt(const std::optional<T>& v) {
  if (!v) return nullptr;
  return *v;
}

ordered_json opt_str(const std::optional<std::string>& v) {
  if (!v) return nullptr;
  return mail::sanitize_utf8(*v);
}

ordered_json strings(const std::vector<std::string>& v) {
  ordered_json a = ordered_json::array();
  for (const auto& s : v) a.push_back(mail::sanitize_utf8(s));
  return a;
}

}  // namespace

ordered_json to_json(const Report& r, const std::string& source) {
  ordered_json j;
  if (!source.empty()) j["source"] = mail::sanitize_utf8(source);
  j["message"] = {{"from", opt_str(r.message.from)},
                  {"subject", opt_str(r.message.subject)},
                  {"date", opt_str(r.message.date)},
                  {"message_id", opt_str(r.message.message_id)}};
  ordered_json hops = ordered_json::array();
  for (const auto& h : r.hops) {
    ordered_json o;
    o["index"] = h.index;
    o["from_host"] = str_or_null(h.rx.from_host);
    o["from_ip"] = str_or_null(h.rx.from_ip);
    o["helo"] = str_or_null(h.rx.helo);
    o["by_host"] = str_or_null(h.rx.by_host);
    o["protocol"] = str_or_null(h.rx.with);
    o["id"] = str_or_null(h.rx.id);
    o["for"] = str_or_null(h.rx.for_addr);
    o["time"] = h.time ? ordered_json(mail::format_rfc3339_utc(*h.time)) : ordered_json(nullptr);
    o["delay_seconds"] = opt(h.delay_seconds);
    o["tls"] = opt(h.rx.tls);
    o["authenticated"] = opt(h.rx.authenticated);
    o["raw"] = mail::raw_to_utf8(h.raw);
    // Additions to the contract (docs/trace.md): never renamed, only added.
    o["by_ip"] = str_or_null(h.rx.by_ip);
    o["via"] = str_or_null(h.rx.via);
    o["skew_seconds"] = opt(h.skew_seconds);
    o["chain_break"] = h.chain_break;
    o["unverified"] = h.unverified;
    o["problems"] = strings(h.rx.problems);
    hops.push_back(std::move(o));
  }
  j["hops"] = std::move(hops);
  j["total_seconds"] = opt(r.total_seconds);
  j["slowest_hop"] = opt(r.slowest_hop);
  j["clock_skew"] = r.clock_skew;
  if (r.origin) {
    j["origin"] = {{"ip", mail::sanitize_utf8(r.origin->ip)},
                   {"host", str_or_null(r.origin->host)},
                   {"hop", r.origin->hop}};
  } else {
    j["origin"] = nullptr;
  }
  j["auth"] = {{"spf", r.auth.spf}, {"dkim", r.auth.dkim}, {"dmarc", r.auth.dmarc}};
  j["verdict"] = {{"spoofing_suspected", r.verdict.spoofing_suspected},
                  {"reasons", strings(r.verdict.reasons)}};
  j["notes"] = strings(r.notes);
  j["problems"] = strings(r.problems);
  return j;
}

std::string render_json(const std::vector<Traced>& items, bool bulk) {
  if (!bulk && items.size() == 1)
    return to_json(items[0].report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n";
  ordered_json a = ordered_json::array();
  for (const auto& it : items) a.push_back(to_json(it.report, it.source));
  return a.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// JSON Lines, written straight into the output without building the
// nlohmann DOM first: bulk mode (issue 16) spent a third of its time
// allocating, filling and freeing that tree for each message. The bytes are
// exactly what to_json(...).dump() gives (same members, order, escaping;
// tests/unit/trace/render_test.cpp compares the two over the samples), so
// to_json stays the one definition of the contract.
namespace {

class LineWriter {
 public:
  explicit LineWriter(std::string& out) : out_(out) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  LineWriter& key(std::string_view k) {
    separate();
    quoted(k);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  // A string already valid UTF-8 (sanitized by the caller).
  void value(std::string_view s) {
    separate();
    quoted(s);
  }
  void value(bool b) {
    separate();
    out_ += b ? "true" : "false";
  }
  void value(long long n) {
    separate();
    out_ += std::to_string(n);
  }
  void null() {
    separate();
    out_ += "null";
  }
  template <class T>
  void optional(const std::optional<T>& v) {
    if (v)
      value(static_cast<long long>(*v));
    else
      null();
  }
  void string_or_null(const std::string& s) {
    if (s.empty())
      null();
    else
      value(mail::sanitize_utf8(s));
  }
  void optional_string(const std::optional<std::string>& s) {
    if (s)
      value(mail::sanitize_utf8(*s));
    else
      null();
  }
  void strings(const std::vector<std::string>& v) {
    begin_array();
    for (const auto& s : v) value(mail::sanitize_utf8(s));
    end_array();
  }

 private:
  void open(char c) {
    separate();
    out_ += c;
    first_ = true;
  }
  void close(char c) {
    out_ += c;
    first_ = false;
  }
  // A comma before every element but the first of its container.
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_) out_ += ',';
    first_ = false;
  }
  // RFC 8259 section 7, as nlohmann's serializer writes it with
  // ensure_ascii off: '"', '\\' and control characters escaped, short forms
  // where they exist, everything else (UTF-8 included) as it is.
  void quoted(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out_ += '"';
    std::size_t plain = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      out_.append(s.data() + plain, i - plain);
      plain = i + 1;
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\b':
          out_ += "\\b";
          break;
        case '\t':
          out_ += "\\t";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\f':
          out_ += "\\f";
          break;
        case '\r':
          out_ += "\\r";
          break;
        default:
          out_ += "\\u00";
          out_ += kHex[c >> 4];
          out_ += kHex[c & 0xf];
      }
    }
    out_.append(s.data() + plain, s.size() - plain);
    out_ += '"';
  }

  std::string& out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace

void append_jsonl(std::string& out, const Report& r, const std::string& source) {
  LineWriter w(out);
  w.begin_object();
  if (!source.empty()) w.key("source").value(mail::sanitize_utf8(source));
  w.key("message").begin_object();
  w.key("from").optional_string(r.message.from);
  w.key("subject").optional_string(r.message.subject);
  w.key("date").optional_string(r.message.date);
  w.key("message_id").optional_string(r.message.message_id);
  w.end_object();
  w.key("hops").begin_array();
  for (const auto& h : r.hops) {
    w.begin_object();
    w.key("index").value(static_cast<long long>(h.index));
    w.key("from_host").string_or_null(h.rx.from_host);
    w.key("from_ip").string_or_null(h.rx.from_ip);
    w.key("helo").string_or_null(h.rx.helo);
    w.key("by_host").string_or_null(h.rx.by_host);
    w.key("protocol").string_or_null(h.rx.with);
    w.key("id").string_or_null(h.rx.id);
    w.key("for").string_or_null(h.rx.for_addr);
    if (h.time)
      w.key("time").value(mail::format_rfc3339_utc(*h.time));
    else
      w.key("time").null();
    w.key("delay_seconds").optional(h.delay_seconds);
    if (h.rx.tls)
      w.key("tls").value(*h.rx.tls);
    else
      w.key("tls").null();
    if (h.rx.authenticated)
      w.key("authenticated").value(*h.rx.authenticated);
    else
      w.key("authenticated").null();
    w.key("raw").value(mail::raw_to_utf8(h.raw));
    w.key("by_ip").string_or_null(h.rx.by_ip);
    w.key("via").string_or_null(h.rx.via);
    w.key("skew_seconds").optional(h.skew_seconds);
    w.key("chain_break").value(h.chain_break);
    w.key("unverified").value(h.unverified);
    w.key("problems").strings(h.rx.problems);
    w.end_object();
  }
  w.end_array();
  w.key("total_seconds").optional(r.total_seconds);
  w.key("slowest_hop").optional(r.slowest_hop);
  w.key("clock_skew").begin_array();
  for (int i : r.clock_skew) w.value(static_cast<long long>(i));
  w.end_array();
  if (r.origin) {
    w.key("origin").begin_object();
    w.key("ip").value(mail::sanitize_utf8(r.origin->ip));
    w.key("host").string_or_null(r.origin->host);
    w.key("hop").value(static_cast<long long>(r.origin->hop));
    w.end_object();
  } else {
    w.key("origin").null();
  }
  w.key("auth").begin_object();
  w.key("spf").value(r.auth.spf);
  w.key("dkim").value(r.auth.dkim);
  w.key("dmarc").value(r.auth.dmarc);
  w.end_object();
  w.key("verdict").begin_object();
  w.key("spoofing_suspected").value(r.verdict.spoofing_suspected);
  w.key("reasons").strings(r.verdict.reasons);
  w.end_object();
  w.key("notes").strings(r.notes);
  w.key("problems").strings(r.problems);
  w.end_object();
  out += '\n';
}

std::string render_jsonl(const std::vector<Traced>& items) {
  std::string out;
  for (const auto& it : items) append_jsonl(out, it.report, it.source);
  return out;
}

}  // namespace tegami::trace
