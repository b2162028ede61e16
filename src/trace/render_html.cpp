// The HTML page: one file, no external assets (inline CSS and SVG), so it
// can be mailed, archived, or opened offline.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mail/charset.hpp"
#include "mail/date.hpp"
#include "trace/render.hpp"

namespace tegami::trace {

namespace {

std::string esc(const std::string& raw) {
  std::string s = mail::sanitize_utf8(raw);
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
          out += ' ';
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

// Shortens to `n` code points with an ellipsis.
std::string shorten(const std::string& raw, std::size_t n) {
  std::string s = mail::sanitize_utf8(raw);
  std::size_t cps = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++cps > n)
      return s.substr(0, i) + "\xE2\x80\xA6";
  }
  return s;
}

std::string sender(const Hop& h) {
  std::string name = !h.rx.from_host.empty() ? h.rx.from_host : h.rx.helo;
  if (!name.empty()) return name;
  if (!h.rx.from_ip.empty()) return h.rx.from_ip;
  return h.rx.has_from ? "?" : "(local)";
}

std::string tri(const std::optional<bool>& b, const char* yes, const char* no) {
  if (!b) return "<span class=\"muted\">unknown</span>";
  return *b ? std::string("<span class=\"ok\">") + yes + "</span>"
            : std::string("<span class=\"warn\">") + no + "</span>";
}

std::string auth_badge(const char* name, const std::string& v) {
  std::string cls = v == "pass"                                            ? "ok"
                    : (v == "fail" || v == "softfail" || v == "permerror") ? "bad"
                                                                           : "muted";
  return std::string("<span class=\"badge ") + cls + "\">" + name + "=" + esc(v) + "</span> ";
}

constexpr int kRow = 38;
constexpr int kBarX = 430;
constexpr int kBarW = 520;
constexpr int kWidth = 1000;

std::string timeline(const Report& r) {
  long long max_delay = 1;
  for (const auto& h : r.hops) {
    if (h.delay_seconds) max_delay = std::max(max_delay, *h.delay_seconds);
    if (h.skew_seconds) max_delay = std::max(max_delay, std::llabs(*h.skew_seconds));
  }
  int height = static_cast<int>(r.hops.size()) * kRow + 40;
  std::string s = "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
                  std::to_string(kWidth) + " " + std::to_string(height) +
                  "\" role=\"img\" aria-label=\"delay per hop\">";
  s += "<defs><pattern id=\"hatch\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" "
       "patternTransform=\"rotate(45)\"><rect width=\"4\" height=\"8\" fill=\"#f0a030\"/></pattern>"
       "</defs>";
  s += "<text x=\"10\" y=\"20\" class=\"axis\">hop · from → by</text>";
  s += "<text x=\"" + std::to_string(kBarX) +
       "\" y=\"20\" class=\"axis\">delay (bar length "
       "proportional, longest = " +
       esc(human_duration(max_delay)) + ")</text>";
  int y = 32;
  for (const auto& h : r.hops) {
    std::string label = std::to_string(h.index) + " · " + shorten(sender(h), 22) + " → " +
                        shorten(h.rx.by_host.empty() ? "?" : h.rx.by_host, 22);
    bool slow = r.slowest_hop && *r.slowest_hop == h.index;
    s += "<g class=\"hop\"><title>" + esc(h.raw) + "</title>";
    s += "<rect x=\"0\" y=\"" + std::to_string(y) + "\" width=\"" + std::to_string(kWidth) +
         "\" height=\"" + std::to_string(kRow - 4) + "\" class=\"rowbg\"/>";
    s += "<text x=\"10\" y=\"" + std::to_string(y + 22) + "\" class=\"label\">" + esc(label) +
         "</text>";
    int bar_y = y + 8;
    int bar_h = kRow - 20;
    if (h.delay_seconds) {
      int w = static_cast<int>(static_cast<double>(*h.delay_seconds) / max_delay * kBarW);
      w = std::max(w, 3);
      s += "<rect x=\"" + std::to_string(kBarX) + "\" y=\"" + std::to_string(bar_y) +
           "\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(bar_h) +
           "\" rx=\"3\" class=\"" + (slow ? "bar slow" : "bar") + "\"/>";
      // A long bar carries its label inside, right-aligned; a short one beside it.
      bool inside = w > kBarW - 140;
      s += "<text x=\"" + std::to_string(inside ? kBarX + w - 8 : kBarX + w + 8) + "\" y=\"" +
           std::to_string(y + 22) + "\" class=\"" + (inside ? "value inside" : "value") + "\">+" +
           esc(human_duration(*h.delay_seconds)) + (slow ? " · slowest" : "") + "</text>";
    } else if (h.clock_skew) {
      long long v = h.skew_seconds ? std::llabs(*h.skew_seconds) : 0;
      int w = std::max(static_cast<int>(static_cast<double>(v) / max_delay * kBarW), 3);
      s += "<rect x=\"" + std::to_string(kBarX) + "\" y=\"" + std::to_string(bar_y) +
           "\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(bar_h) +
           "\" rx=\"3\" fill=\"url(#hatch)\" class=\"skew\"/>";
      std::string what = "clock skew";
      if (h.skew_seconds)
        what += std::string(" (") + (*h.skew_seconds < 0 ? "−" : "+") +
                human_duration(std::llabs(*h.skew_seconds)) + ")";
      s += "<text x=\"" + std::to_string(kBarX + std::min(w, kBarW - 150) + 8) + "\" y=\"" +
           std::to_string(y + 22) + "\" class=\"value skewtext\">" + esc(what) + "</text>";
    } else {
      s += "<rect x=\"" + std::to_string(kBarX) + "\" y=\"" + std::to_string(bar_y) +
           "\" width=\"60\" height=\"" + std::to_string(bar_h) + "\" rx=\"3\" class=\"nodate\"/>";
      s += "<text x=\"" + std::to_string(kBarX + 68) + "\" y=\"" + std::to_string(y + 22) +
           "\" class=\"value muted\">" + (h.time ? "first dated hop" : "no date") + "</text>";
    }
    s += "</g>";
    y += kRow;
  }
  s += "</svg>";
  return s;
}

std::string section(const Traced& item, int n) {
  const Report& r = item.report;
  std::string s = "<section id=\"m" + std::to_string(n) + "\">";
  s += "<h1>" + esc(r.message.subject ? *r.message.subject : "(no subject)") + "</h1>";
  if (!item.source.empty()) s += "<p class=\"source\">" + esc(item.source) + "</p>";
  s += "<dl class=\"meta\"><dt>From</dt><dd>" + esc(r.message.from.value_or("(none)")) +
       "</dd><dt>Date</dt><dd>" + esc(r.message.date.value_or("(none)")) + "</dd>";
  if (r.message.message_id) s += "<dt>Message-ID</dt><dd>" + esc(*r.message.message_id) + "</dd>";
  s += "</dl>";

  bool bad = r.verdict.spoofing_suspected;
  s += std::string("<div class=\"verdict ") + (bad ? "suspect" : "fine") + "\"><strong>" +
       (bad ? "Spoofing suspected" : "No spoofing suspected") + "</strong>";
  if (!r.verdict.reasons.empty()) {
    s += "<ul>";
    for (const auto& why : r.verdict.reasons) s += "<li>" + esc(why) + "</li>";
    s += "</ul>";
  }
  s += "</div>";

  s += "<div class=\"cards\">";
  s += "<div class=\"card\"><span>Total</span><b>" +
       (r.total_seconds ? esc(human_duration(*r.total_seconds)) : std::string("unknown")) +
       "</b></div>";
  s += "<div class=\"card\"><span>Slowest hop</span><b>" +
       (r.slowest_hop ? std::to_string(*r.slowest_hop) + " (" +
                            esc(human_duration(*r.hops[*r.slowest_hop - 1].delay_seconds)) + ")"
                      : std::string("none")) +
       "</b></div>";
  s += "<div class=\"card\"><span>Origin</span><b>" +
       (r.origin ? esc(r.origin->ip) + (r.origin->host.empty() ? "" : " · " + esc(r.origin->host)) +
                       " (hop " + std::to_string(r.origin->hop) + ")"
                 : std::string("unknown")) +
       "</b></div>";
  s += "<div class=\"card\"><span>Authentication-Results</span><b>" +
       auth_badge("spf", r.auth.spf) + auth_badge("dkim", r.auth.dkim) +
       auth_badge("dmarc", r.auth.dmarc) + "</b></div>";
  s += "</div>";

  if (r.hops.empty()) {
    s += "<p class=\"muted\">No Received: fields: the route is unknown.</p>";
  } else {
    s += "<h2>Timeline</h2>" + timeline(r);
    s += "<h2>Hops</h2><table><thead><tr><th>#</th><th>time (UTC)</th><th>delay</th><th>from</th>"
         "<th>by</th><th>protocol</th><th>TLS</th><th>auth</th></tr></thead><tbody>";
    for (const auto& h : r.hops) {
      std::string cls;
      if (r.slowest_hop && *r.slowest_hop == h.index) cls += " slowrow";
      if (h.unverified) cls += " unverified";
      s += "<tr class=\"" + cls + "\"><td>" + std::to_string(h.index) + "</td><td>" +
           (h.time ? esc(mail::format_rfc3339_utc(*h.time))
                   : "<span class=\"muted\">no date</span>") +
           "</td><td>";
      if (h.delay_seconds) {
        s += "+" + esc(human_duration(*h.delay_seconds));
      } else if (h.clock_skew) {
        s += "<span class=\"skewtext\">clock skew</span>";
      } else {
        s += "<span class=\"muted\">–</span>";
      }
      s += "</td><td>" + esc(!h.rx.from_host.empty() ? h.rx.from_host : "–");
      if (!h.rx.from_ip.empty()) s += " <code>" + esc(h.rx.from_ip) + "</code>";
      if (!h.rx.helo.empty() && h.rx.helo != h.rx.from_host)
        s += "<br><small>HELO " + esc(h.rx.helo) + "</small>";
      if (h.chain_break) s += "<br><small class=\"bad\">chain break</small>";
      if (h.unverified) s += "<br><small class=\"warn\">unverified claim</small>";
      s += "</td><td>" + esc(h.rx.by_host.empty() ? "?" : h.rx.by_host) + "</td><td>" +
           esc(h.rx.with) + "</td><td>" + tri(h.rx.tls, "yes", "no") + "</td><td>" +
           tri(h.rx.authenticated, "yes", "no") + "</td></tr>";
      s += "<tr class=\"detail\"><td></td><td colspan=\"7\"><details><summary>Received: field" +
           std::string(h.rx.problems.empty()
                           ? ""
                           : " (" + std::to_string(h.rx.problems.size()) + " not understood)") +
           "</summary><code class=\"raw\">" + esc(mail::raw_to_utf8(h.raw)) + "</code>";
      if (!h.rx.id.empty()) s += "<div>id <code>" + esc(h.rx.id) + "</code></div>";
      if (!h.rx.for_addr.empty()) s += "<div>for <code>" + esc(h.rx.for_addr) + "</code></div>";
      for (const auto& p : h.rx.problems) s += "<div class=\"warn\">" + esc(p) + "</div>";
      s += "</details></td></tr>";
    }
    s += "</tbody></table>";
  }
  if (!r.notes.empty()) {
    s += "<h2>Notes</h2><ul>";
    for (const auto& n2 : r.notes) s += "<li>" + esc(n2) + "</li>";
    s += "</ul>";
  }
  if (!r.problems.empty()) {
    s += "<h2>Not understood</h2><ul class=\"problems\">";
    for (const auto& p : r.problems) s += "<li>" + esc(p) + "</li>";
    s += "</ul>";
  }
  s += "</section>";
  return s;
}

constexpr const char* kStyle = R"CSS(
:root{--fg:#1d2330;--muted:#6b7385;--bg:#f6f7fb;--card:#fff;--line:#e3e6ef;--accent:#2f6fec;
--slow:#e0483e;--ok:#1f9d55;--warn:#b7791f;--bad:#c53030}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",
"Noto Sans","Noto Sans CJK JP",sans-serif}
main{max-width:1080px;margin:0 auto;padding:24px}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:24px 28px;
margin-bottom:24px;box-shadow:0 1px 3px rgba(0,0,0,.05)}
h1{font-size:22px;margin:0 0 8px}h2{font-size:16px;margin:24px 0 8px;color:#394150}
.source{color:var(--muted);font-size:13px;margin:0 0 8px}
dl.meta{display:grid;grid-template-columns:110px 1fr;gap:2px 12px;margin:8px 0 16px}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;word-break:break-all}
.verdict{border-radius:8px;padding:12px 16px;margin:12px 0}
.verdict.fine{background:#e8f7ee;border:1px solid #b4e2c6}
.verdict.suspect{background:#fdecec;border:1px solid #f3b9b5}
.verdict ul{margin:6px 0 0 18px;padding:0}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin:16px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card>span{display:block;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card b{font-weight:600;word-break:break-all}
.badge{display:inline-block;font-size:12px;font-weight:600;border-radius:10px;padding:1px 8px;
background:#eef0f5;margin:2px 0}
.badge.ok{background:#e1f5e9}.badge.bad{background:#fde2e0}
svg.timeline{width:100%;height:auto;background:#fbfcfe;border:1px solid var(--line);border-radius:8px}
svg .axis{font-size:12px;fill:var(--muted)}svg .label{font-size:13px;fill:var(--fg)}
svg .value{font-size:12px;fill:var(--fg)}svg .value.inside{fill:#fff;text-anchor:end;font-weight:600}svg .rowbg{fill:transparent}
svg .hop:hover .rowbg{fill:#eef3ff}
svg .bar{fill:var(--accent)}svg .bar.slow{fill:var(--slow)}
svg .skew{stroke:#d9822b;stroke-width:1.5}svg .skewtext{fill:#b45309}
svg .nodate{fill:none;stroke:#aab1c2;stroke-dasharray:4 3}
table{width:100%;border-collapse:collapse;font-size:14px}
th{text-align:left;color:var(--muted);font-weight:600;border-bottom:2px solid var(--line);padding:6px}
td{border-bottom:1px solid var(--line);padding:6px;vertical-align:top;word-break:break-word}
tr.detail td{border-bottom:1px solid var(--line);padding-top:0}
tr.slowrow td{background:#fff4f3}tr.unverified td{color:#7a6a4a}
code{font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;background:#f1f3f8;border-radius:4px;padding:1px 4px}
code.raw{display:block;white-space:pre-wrap;word-break:break-all;padding:8px;margin:6px 0}
details summary{cursor:pointer;color:var(--muted);font-size:13px}
.muted{color:var(--muted)}.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}
.skewtext{color:#b45309}
nav ul{columns:2;font-size:14px}
@media (max-width:800px){.cards{grid-template-columns:1fr 1fr}}
)CSS";

}  // namespace

std::string render_html(const std::vector<Traced>& items) {
  std::string title = "tegami trace";
  if (items.size() == 1 && items[0].report.message.subject)
    title += ": " + *items[0].report.message.subject;
  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<title>" +
      esc(title) + "</title><style>" + kStyle + "</style></head><body><main>";
  if (items.size() > 1) {
    s += "<section><h1>" + std::to_string(items.size()) + " messages</h1><nav><ul>";
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& r = items[i].report;
      s += "<li><a href=\"#m" + std::to_string(i + 1) + "\">" +
           esc(shorten(r.message.subject.value_or(items[i].source), 60)) + "</a>" +
           (r.verdict.spoofing_suspected ? " <span class=\"bad\">suspected</span>" : "") + "</li>";
    }
    s += "</ul></nav></section>";
  }
  for (std::size_t i = 0; i < items.size(); ++i) s += section(items[i], static_cast<int>(i + 1));
  s += "<p class=\"muted\" style=\"text-align:center;font-size:12px\">tegami trace · header order "
       "is "
       "the truth; times are as the servers wrote them</p></main></body></html>\n";
  return s;
}

}  // namespace tegami::trace
