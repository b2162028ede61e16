// Renderers of a Report: text (people at a terminal), JSON (the DESIGN §5
// contract; scripts), and a self-contained HTML page with an SVG timeline.
//
// Invariants: output is valid UTF-8 whatever the message held (every string
// goes through mail::sanitize_utf8 or raw_to_utf8); renderers never read the
// clock or files, except that text output asks `local_offset` (default: the
// process's time zone via localtime_r) for the local times it shows.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trace/report.hpp"

namespace tegami::trace {

// One analysed message and where it came from (a path, "-", "mbox:3").
struct Traced {
  std::string source;
  Report report;
};

// The DESIGN contract object; `source` is added when not empty (bulk input).
nlohmann::ordered_json to_json(const Report& report, const std::string& source = "");
// Pretty JSON (one message: an object; several: an array) or JSON Lines.
std::string render_json(const std::vector<Traced>& items, bool bulk);
std::string render_jsonl(const std::vector<Traced>& items);
// One JSON Lines record (with its newline) appended to `out`: the same bytes
// as to_json(report, source).dump(), without building the JSON tree.
void append_jsonl(std::string& out, const Report& report, const std::string& source = "");

struct TextOptions {
  // Minutes east of UTC of the local zone at an instant.
  std::function<int(std::chrono::sys_seconds)> local_offset;
};
int system_local_offset(std::chrono::sys_seconds t);

std::string render_text(const Traced& item, const TextOptions& options);
std::string render_html(const std::vector<Traced>& items);

// "5s", "1m 30s", "2h 03m", "3d 4h" (negative values get a '-').
std::string human_duration(long long seconds);

}  // namespace tegami::trace
