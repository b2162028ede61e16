// The RFC 7208 test suite (tests/data/spf/rfc7208-tests.json, openspf.org /
// pyspf): every test of every scenario through SpfCheck, with the scenario's
// zonedata as the DNS. A test passes when the result is the expected one (or
// one of the expected ones, where the suite lists several) and, when the
// suite gives an explanation, ours is that text ("DEFAULT": none).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "fake_zone.hpp"
#include "mail/ascii.hpp"

namespace tegami::mailauth {
namespace {

struct SuiteCase {
  std::string name;  // gtest-safe: scenario index and test name
  std::string scenario;
  nlohmann::json zonedata;
  nlohmann::json test;
};

void PrintTo(const SuiteCase& c, std::ostream* os) {
  *os << c.name;
}

std::vector<SuiteCase> load_suite() {
  std::ifstream in(std::string(TEGAMI_SOURCE_DIR) + "/tests/data/spf/rfc7208-tests.json");
  std::vector<SuiteCase> out;
  if (!in) return out;
  nlohmann::json suite = nlohmann::json::parse(in);
  std::set<std::string> seen;
  for (const auto& scenario : suite) {
    for (const auto& [name, test] : scenario.at("tests").items()) {
      std::string safe;
      for (char c : name) safe += mail::is_alpha(c) || mail::is_digit(c) ? c : '_';
      while (!seen.insert(safe).second) safe += "_again";
      out.push_back(SuiteCase{safe, scenario.at("description").get<std::string>(),
                              scenario.at("zonedata"), test});
    }
  }
  return out;
}

const std::vector<SuiteCase>& suite() {
  static const std::vector<SuiteCase> cases = load_suite();
  return cases;
}

TEST(Rfc7208Suite, HasEveryTest) {
  EXPECT_EQ(suite().size(), 200u) << "tests/data/spf/rfc7208-tests.json missing or changed";
}

class Rfc7208 : public ::testing::TestWithParam<SuiteCase> {};

TEST_P(Rfc7208, Passes) {
  const SuiteCase& c = GetParam();
  const auto& t = c.test;
  SCOPED_TRACE(c.scenario + ": " + t.value("description", std::string()));
  auto ip = IpAddress::parse(t.at("host").get<std::string>());
  ASSERT_TRUE(ip.has_value());
  spftest::FakeZone zone(c.zonedata);
  SpfCheck check(SpfQuery::mail_from(*ip, t.at("mailfrom").get<std::string>(),
                                     t.at("helo").get<std::string>(), "receiver.test"));
  std::vector<DnsQuestion> asked;
  SpfOutcome out = zone.run(check, &asked);

  std::vector<std::string> expected;
  if (t.at("result").is_array()) {
    expected = t.at("result").get<std::vector<std::string>>();
  } else {
    expected.push_back(t.at("result").get<std::string>());
  }
  std::string got(to_string(out.result));
  std::string trail;
  for (const auto& q : asked) trail += std::string(to_string(q.type)) + " " + q.name + "\n";
  EXPECT_TRUE(std::find(expected.begin(), expected.end(), got) != expected.end())
      << "got " << got << " (mechanism \"" << out.mechanism << "\", problem \"" << out.problem
      << "\"), expected " << nlohmann::json(expected).dump() << "\nquestions:\n"
      << trail;
  if (t.contains("explanation") && got == "fail") {
    std::string want = t.at("explanation").get<std::string>();
    if (want == "DEFAULT") {
      EXPECT_EQ(out.explanation, "") << "no exp= explanation expected";
    } else if (c.name == "v_macro_ip6") {
      // The suite writes %{ir} of an IPv6 address in upper case; §7.3's
      // example (and tegami) in lower case: DNS names compare without case.
      EXPECT_TRUE(mail::iequals(out.explanation, want)) << out.explanation;
    } else {
      EXPECT_EQ(out.explanation, want);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Suite, Rfc7208, ::testing::ValuesIn(suite()),
                         [](const ::testing::TestParamInfo<SuiteCase>& p) { return p.param.name; });

}  // namespace
}  // namespace tegami::mailauth
