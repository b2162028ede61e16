#include <string>

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

std::string render_jsonl(const std::vector<Traced>& items) {
  std::string out;
  for (const auto& it : items)
    out += to_json(it.report, it.source)
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n";
  return out;
}

}  // namespace tegami::trace
