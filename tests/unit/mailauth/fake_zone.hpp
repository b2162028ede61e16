// An in-memory DNS for the SPF evaluator: answers questions from a table
// written like the RFC 7208 suite's `zonedata` (tests/data/spf/README.md has
// the rules), and drives an SpfCheck to its outcome.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "mail/ascii.hpp"
#include "mailauth/spf.hpp"

namespace tegami::mailauth::spftest {

class FakeZone {
 public:
  FakeZone() = default;
  // `zonedata`: {"name": [{"TXT": "..."}, {"A": "1.2.3.4"}, "TIMEOUT", ...], ...}
  explicit FakeZone(const nlohmann::json& zonedata) {
    for (const auto& [name, entries] : zonedata.items())
      for (const auto& e : entries) add(name, e);
  }
  void add(const std::string& name, const nlohmann::json& entry) {
    names_[key(name)].push_back(entry);
  }
  // Convenience for hand-written tests: add("x.test", "TXT", "v=spf1 -all").
  void add(const std::string& name, const std::string& type, const nlohmann::json& value) {
    add(name, nlohmann::json{{type, value}});
  }
  void timeout(const std::string& name) { add(name, nlohmann::json("TIMEOUT")); }

  DnsAnswer answer(const DnsQuestion& q) const { return answer(q.type, q.name, 0); }

  // Runs `check` to its outcome; every question is appended to `asked`.
  SpfOutcome run(SpfCheck& check, std::vector<DnsQuestion>* asked = nullptr) const {
    for (int i = 0; i < 10000; ++i) {
      auto step = check.step();
      if (auto* q = std::get_if<DnsQuestion>(&step)) {
        if (asked) asked->push_back(*q);
        check.feed(answer(*q));
        continue;
      }
      return std::get<SpfOutcome>(step);
    }
    SpfOutcome hung;
    hung.problem = "the check did not finish";
    hung.result = SpfResult::kNone;
    return hung;
  }

 private:
  static std::string key(std::string name) {
    if (!name.empty() && name.back() == '.') name.pop_back();
    return mail::to_lower(name);
  }
  static std::string type_name(DnsType t) { return std::string(to_string(t)); }

  DnsAnswer answer(DnsType type, const std::string& name, int depth) const {
    DnsAnswer a;
    auto it = names_.find(key(name));
    if (it == names_.end()) {
      a.rcode = DnsRcode::kNotFound;
      return a;
    }
    bool explicit_txt = false;
    for (const auto& e : it->second)
      if (e.is_object() && e.contains("TXT")) explicit_txt = true;
    bool matched = false;
    for (const auto& e : it->second) {
      if (e.is_string()) {  // "TIMEOUT"
        if (!matched) {
          a.rcode = DnsRcode::kTempFail;
          return a;
        }
        continue;
      }
      for (const auto& [t, v] : e.items()) {
        if (t == "CNAME") {
          if (depth > 8) {  // a loop
            a.rcode = DnsRcode::kTempFail;
            return a;
          }
          return answer(type, v.get<std::string>(), depth + 1);
        }
        bool as_txt = t == "TXT" || (t == "SPF" && !explicit_txt);
        if (!(type == DnsType::kTxt ? as_txt : t == type_name(type))) continue;
        if (v.is_string() && v.get<std::string>() == "NONE") continue;
        matched = true;
        switch (type) {
          case DnsType::kTxt:
            if (v.is_array()) {
              a.txt.push_back(v.get<std::vector<std::string>>());
            } else {
              a.txt.push_back({v.get<std::string>()});
            }
            break;
          case DnsType::kA:
          case DnsType::kAaaa: {
            auto s = v.get<std::string>();
            auto ip = type == DnsType::kA ? IpAddress::parse_v4(s) : IpAddress::parse_v6(s);
            if (ip) a.addresses.push_back(*ip);
            break;
          }
          case DnsType::kMx:
            a.names.push_back(v.at(1).get<std::string>());
            break;
          case DnsType::kPtr:
            a.names.push_back(v.get<std::string>());
            break;
        }
      }
    }
    a.rcode = matched ? DnsRcode::kOk : DnsRcode::kNoData;
    return a;
  }

  std::map<std::string, std::vector<nlohmann::json>> names_;
};

}  // namespace tegami::mailauth::spftest
