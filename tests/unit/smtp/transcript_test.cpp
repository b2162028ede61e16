// Golden SMTP transcripts: tests/transcripts/smtp/NAME.in is replayed against
// a ServerSession driven by the FakeDriver (fake_driver.hpp: which recipients
// exist, which deliveries fail); the dialogue it records must equal NAME.ref
// byte for byte. Each transcript is replayed twice: with every Input as
// written, and with every Input cut into single bytes (the result must not
// change), unless it says "@config chunked" (pipelining synchronization
// errors depend on input arriving together). Set TEGAMI_UPDATE_GOLDEN=1 to
// rewrite the .ref files, then review the diff.
//
// .in syntax, one directive per line:
//   # comment, or an empty line      ignored
//   @config KEY=VALUE ...            before the first event: hostname=H,
//                                    max_size=N, max_recipients=N, chunked,
//                                    starttls (offered), implicit_tls (the
//                                    session starts in TLS), tls_fails (the
//                                    fake handshake fails), auth (a
//                                    submission session offering AUTH
//                                    with SCRAM-SHA-256), no_scram (after
//                                    auth: without SCRAM-SHA-256),
//                                    plaintext_auth (PLAIN/LOGIN allowed
//                                    without TLS), strict_bare_lf ([smtp]
//                                    bare_newline = "strict")
//   @pregreet TEXT                   connect, the client having sent TEXT
//                                    (escapes as R:) before the greeting
//   C: TEXT                          the client sends TEXT + CRLF (one Input)
//   P: TEXT                          TEXT + CRLF joins a pipelined group; the
//                                    group is one Input, sent at the next non-P line
//   R: TEXT                          the client sends TEXT with \r \n \0 \\ \xHH
//                                    escapes and no CRLF added (one Input)
//   @timeout | @shutdown | @eof      the driver's events
// The session is connected (greeting) before the first other line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "fake_driver.hpp"

namespace tegami::smtp::testing {
namespace {

namespace fs = std::filesystem;

fs::path transcript_dir() {
  return fs::path(TEGAMI_SOURCE_DIR) / "tests/transcripts/smtp";
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
    } else if (c == '0') {
      out += '\0';
    } else if (c == 'x' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

struct Replay {
  std::string log;
  bool chunked = false;
};

Replay replay(const std::string& script, bool bytewise) {
  SessionConfig config;
  config.hostname = "mx.example.test";
  config.session_id = "t1";
  config.client_ip = "192.0.2.10";
  Replay result;
  bool tls_fails = false;
  std::unique_ptr<FakeDriver> driver;
  std::string group;
  std::vector<std::string> group_lines;
  auto ensure_started = [&](std::string_view pregreet = {}) {
    if (driver) return;
    driver = std::make_unique<FakeDriver>(config);
    driver->set_tls_fails(tls_fails);
    driver->connect(pregreet);
  };
  auto flush_group = [&] {
    if (group.empty()) return;
    ensure_started();
    if (!driver->closed()) {
      for (const auto& l : group_lines) driver->note(l);
    }
    driver->client(group, bytewise);
    group.clear();
    group_lines.clear();
  };
  std::istringstream lines(script);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("P: ", 0) == 0) {
      group += line.substr(3) + "\r\n";
      group_lines.push_back(line);
      continue;
    }
    flush_group();
    if (line.rfind("@config ", 0) == 0) {
      EXPECT_FALSE(driver) << "@config must come before the first event: " << line;
      std::istringstream words(line.substr(8));
      std::string kv;
      while (words >> kv) {
        std::string key = kv.substr(0, kv.find('='));
        std::string value = kv.find('=') == std::string::npos ? "" : kv.substr(kv.find('=') + 1);
        if (key == "hostname") {
          config.hostname = value;
        } else if (key == "max_size") {
          config.max_message_size = std::stoull(value);
        } else if (key == "max_recipients") {
          config.max_recipients = std::stoul(value);
        } else if (key == "chunked") {
          result.chunked = true;
        } else if (key == "starttls") {
          config.offer_starttls = true;
        } else if (key == "auth") {
          config.offer_auth = true;
          config.offer_scram = true;
          config.submission = true;
        } else if (key == "no_scram") {
          config.offer_scram = false;
        } else if (key == "plaintext_auth") {
          config.plaintext_auth = true;
        } else if (key == "implicit_tls") {
          config.tls = TlsInfo{"TLSv1.3", "TLS_AES_128_GCM_SHA256"};
        } else if (key == "strict_bare_lf") {
          config.bare_lf_ends_line = false;
        } else if (key == "tls_fails") {
          tls_fails = true;
        } else {
          ADD_FAILURE() << "unknown setting " << kv;
        }
      }
    } else if (line.rfind("@pregreet ", 0) == 0) {
      EXPECT_FALSE(driver) << "@pregreet must come first";
      std::string bytes = unescape(line.substr(10));
      ensure_started(bytes);
    } else if (line.rfind("C: ", 0) == 0) {
      ensure_started();
      if (driver->closed()) continue;
      driver->note(line);
      driver->client(line.substr(3) + "\r\n", bytewise);
    } else if (line.rfind("R: ", 0) == 0) {
      ensure_started();
      if (driver->closed()) continue;
      driver->note(line);
      driver->client(unescape(line.substr(3)), bytewise);
    } else if (line == "@timeout" || line == "@shutdown" || line == "@eof") {
      ensure_started();
      if (driver->closed()) continue;
      driver->note("E: " + line.substr(1));
      if (line == "@timeout") driver->event(Timeout{});
      if (line == "@shutdown") driver->event(Shutdown{});
      if (line == "@eof") driver->event(PeerClosed{});
    } else {
      ADD_FAILURE() << "bad transcript line: " << line;
    }
  }
  flush_group();
  ensure_started();
  result.log = driver->log();
  return result;
}

std::vector<std::string> transcript_names() {
  std::vector<std::string> names;
  if (!fs::exists(transcript_dir())) return names;
  for (const auto& entry : fs::directory_iterator(transcript_dir())) {
    if (entry.path().extension() == ".in") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class SmtpTranscript : public ::testing::TestWithParam<std::string> {};

TEST_P(SmtpTranscript, MatchesGolden) {
  const fs::path in = transcript_dir() / (GetParam() + ".in");
  const fs::path ref = transcript_dir() / (GetParam() + ".ref");
  const std::string script = read_file(in);
  const Replay got = replay(script, false);
  if (std::getenv("TEGAMI_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(ref, std::ios::binary) << got.log;
    GTEST_SKIP() << "rewrote " << ref;
  }
  ASSERT_TRUE(fs::exists(ref)) << ref << " is missing (run with TEGAMI_UPDATE_GOLDEN=1)";
  const std::string expected = read_file(ref);
  EXPECT_EQ(got.log, expected);
  if (!got.chunked) {
    EXPECT_EQ(replay(script, true).log, expected) << "fed one byte at a time";
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, SmtpTranscript, ::testing::ValuesIn(transcript_names()),
                         [](const auto& p) { return p.param; });

TEST(SmtpTranscript, ThereAreEnough) {
  EXPECT_GE(transcript_names().size(), 15u);
}

}  // namespace
}  // namespace tegami::smtp::testing
