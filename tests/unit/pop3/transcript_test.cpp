// Golden POP3 transcripts: tests/transcripts/pop3/NAME.in is replayed against
// a ServerSession driven by the FakeDriver; the dialogue it records must equal
// NAME.ref byte for byte. Set TEGAMI_UPDATE_GOLDEN=1 to rewrite the .ref files
// (then review the diff: a golden file is only as good as its review).
//
// .in syntax, one directive per line:
//   # comment                 ignored
//   @config KEY=VALUE ...     before the first event: apop=on|off,
//                             plaintext=on|off, stls=on|off, timestamp=rfc
//   @fake commit=fail | read=fail
//   C: TEXT                   the client sends TEXT + CRLF (one Input event)
//   R: TEXT                   the client sends TEXT with \r \n \\ \xHH escapes (one Input)
//   @timeout                  the idle timer fires
// The session is connected (greeting) before the first C:/R:/@timeout line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fake_driver.hpp"

namespace tegami::pop3::testing {
namespace {

namespace fs = std::filesystem;

fs::path transcript_dir() {
  return fs::path(TEGAMI_SOURCE_DIR) / "tests/transcripts/pop3";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    if (c == 'r') {
      out += '\r';
    } else if (c == 'n') {
      out += '\n';
    } else if (c == 'x' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// Runs one transcript and returns the recorded dialogue.
std::string replay(const std::string& script) {
  Config config;
  config.session_id = "t1";
  config.apop_timestamp = "<100.1.1700000000.00000000deadbeef@mail.example.test>";
  std::unique_ptr<FakeDriver> driver;
  bool commit_fails = false;
  bool read_fails = false;
  auto ensure_started = [&] {
    if (driver) return;
    driver = std::make_unique<FakeDriver>(config);
    driver->commit_fails = commit_fails;
    driver->read_fails = read_fails;
    driver->connect();
  };
  std::istringstream lines(script);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("@config ", 0) == 0 || line.rfind("@fake ", 0) == 0) {
      EXPECT_FALSE(driver) << "@config/@fake must come before the first event: " << line;
      std::istringstream words(line.substr(line.find(' ') + 1));
      std::string kv;
      while (words >> kv) {
        const bool on = kv.ends_with("=on");
        if (kv.starts_with("apop=")) {
          config.apop = on;
        } else if (kv.starts_with("plaintext=")) {
          config.plaintext_allowed = on;
        } else if (kv.starts_with("stls=")) {
          config.stls_offered = on;
        } else if (kv == "timestamp=rfc") {
          config.apop_timestamp = std::string(kRfcTimestamp);
        } else if (kv == "commit=fail") {
          commit_fails = true;
        } else if (kv == "read=fail") {
          read_fails = true;
        } else {
          ADD_FAILURE() << "unknown setting " << kv;
        }
      }
    } else if (line.rfind("C: ", 0) == 0) {
      ensure_started();
      driver->client(line.substr(3) + "\r\n");
    } else if (line.rfind("R: ", 0) == 0) {
      ensure_started();
      driver->client(unescape(line.substr(3)));
    } else if (line == "@timeout") {
      ensure_started();
      driver->timeout();
    } else {
      ADD_FAILURE() << "bad transcript line: " << line;
    }
  }
  ensure_started();
  return driver->log();
}

std::vector<std::string> transcript_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(transcript_dir())) {
    if (entry.path().extension() == ".in") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class Pop3Transcript : public ::testing::TestWithParam<std::string> {};

TEST_P(Pop3Transcript, MatchesGolden) {
  const fs::path in = transcript_dir() / (GetParam() + ".in");
  const fs::path ref = transcript_dir() / (GetParam() + ".ref");
  const std::string got = replay(read_file(in));
  if (std::getenv("TEGAMI_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(ref, std::ios::binary) << got;
    GTEST_SKIP() << "rewrote " << ref;
  }
  ASSERT_TRUE(fs::exists(ref)) << ref << " is missing (run with TEGAMI_UPDATE_GOLDEN=1)";
  EXPECT_EQ(got, read_file(ref));
}

INSTANTIATE_TEST_SUITE_P(Golden, Pop3Transcript, ::testing::ValuesIn(transcript_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(Pop3Transcript, ThereAreEnough) {
  EXPECT_GE(transcript_names().size(), 12u);
}

}  // namespace
}  // namespace tegami::pop3::testing
