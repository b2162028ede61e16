// Renderers: the JSON contract (DESIGN §5), text, self-contained HTML; and
// the mbox splitter.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "mail/charset.hpp"
#include "mail/header.hpp"
#include "trace/input.hpp"
#include "trace/render.hpp"

namespace tegami::trace {
namespace {

const char* kMessage =
    "Received: from relay.example (relay.example [198.51.100.2]) by mx.example (Postfix) with "
    "ESMTPS id AB12 for <u@mx.example>; Mon, 1 Jan 2018 10:01:37 +0000\r\n"
    "Received: from [192.168.0.3] (dsl.example [203.0.113.1]) (authenticated bits=0) by "
    "relay.example with ESMTPSA id Z9; Mon, 1 Jan 2018 11:00:07 +0100\r\n"
    "Date: Mon, 1 Jan 2018 10:00:00 +0000\r\n"
    "From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>\r\n"
    "Subject: =?UTF-8?B?44GT44KT44Gr44Gh44Gv?= \xFF\r\n"
    "Message-ID: <m1@example.jp>\r\n"
    "\r\nbody\r\n";

Traced traced(const char* m = kMessage) {
  return Traced{"", analyze(mail::parse_header(m), Options{})};
}

TEST(Json, ContractShape) {
  auto j = to_json(traced().report);
  EXPECT_EQ(j["message"]["from"], "山田 <yamada@example.jp>");
  EXPECT_EQ(j["message"]["subject"], "こんにちは \xEF\xBF\xBD");
  EXPECT_EQ(j["message"]["date"], "2018-01-01T10:00:00Z");
  EXPECT_EQ(j["message"]["message_id"], "<m1@example.jp>");
  ASSERT_EQ(j["hops"].size(), 2u);
  const auto& h1 = j["hops"][0];
  for (const char* key : {"index", "from_host", "from_ip", "helo", "by_host", "protocol", "id",
                          "for", "time", "delay_seconds", "tls", "authenticated", "raw"})
    EXPECT_TRUE(h1.contains(key)) << key;
  EXPECT_EQ(h1["index"], 1);
  EXPECT_EQ(h1["from_host"], "dsl.example");
  EXPECT_EQ(h1["from_ip"], "203.0.113.1");
  EXPECT_EQ(h1["helo"], "[192.168.0.3]");
  EXPECT_EQ(h1["by_host"], "relay.example");
  EXPECT_EQ(h1["protocol"], "ESMTPSA");
  EXPECT_EQ(h1["id"], "Z9");
  EXPECT_TRUE(h1["for"].is_null());
  EXPECT_EQ(h1["time"], "2018-01-01T10:00:07Z");
  EXPECT_EQ(h1["delay_seconds"], 7);
  EXPECT_EQ(h1["tls"], true);
  EXPECT_EQ(h1["authenticated"], true);
  EXPECT_EQ(j["hops"][1]["delay_seconds"], 90);
  EXPECT_EQ(j["hops"][1]["for"], "<u@mx.example>");
  EXPECT_EQ(j["total_seconds"], 97);
  EXPECT_EQ(j["slowest_hop"], 2);
  EXPECT_TRUE(j["clock_skew"].is_array());
  EXPECT_EQ(j["origin"]["ip"], "203.0.113.1");
  EXPECT_EQ(j["origin"]["host"], "dsl.example");
  EXPECT_EQ(j["origin"]["hop"], 1);
  EXPECT_EQ(j["auth"]["spf"], "not_checked");
  EXPECT_EQ(j["verdict"]["spoofing_suspected"], false);
  EXPECT_TRUE(j["verdict"]["reasons"].is_array());
  // Key order follows the contract.
  auto it = j.begin();
  for (const char* key : {"message", "hops", "total_seconds", "slowest_hop", "clock_skew", "origin",
                          "auth", "verdict"}) {
    ASSERT_NE(it, j.end());
    EXPECT_EQ(it.key(), key);
    ++it;
  }
}

TEST(Json, BulkAndLines) {
  std::vector<Traced> items = {traced(), traced()};
  items[0].source = "a";
  items[1].source = "b";
  std::string lines = render_jsonl(items);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2);
  auto arr = nlohmann::json::parse(render_json(items, true));
  ASSERT_TRUE(arr.is_array());
  EXPECT_EQ(arr[1]["source"], "b");
  auto one = nlohmann::json::parse(render_json({traced()}, false));
  EXPECT_TRUE(one.is_object());
  EXPECT_FALSE(one.contains("source"));
}

// The direct JSON Lines writer must give the bytes of the nlohmann DOM
// (the contract's one definition), for every sample and for strings that
// need escaping.
TEST(Json, LinesWriterMatchesTheContractObject) {
  std::vector<std::string> messages = {
      kMessage,
      "Received: from \"q\\uote\" (h [192.0.2.1]) by mx.example with SMTP id \x01\x1f\x7f; Mon, "
      "1 Jan 2018 10:01:37 +0000\r\nSubject: tab\there \"quoted\" back\\slash \x08\x0c\r\n"
      "From: a@b\r\n\r\n",
      "Subject: no route\r\n\r\n"};
  std::size_t samples = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(TEGAMI_SOURCE_DIR "/tests/trace/corpus")) {
    if (e.path().extension() != ".eml") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    messages.push_back(ss.str());
    ++samples;
  }
  ASSERT_GE(samples, 20u);
  for (const auto& m : messages) {
    auto report = analyze(mail::parse_header(m), Options{});
    for (std::string source : {"", "mbox:3 \"x\\y\"\n"}) {
      std::string line;
      append_jsonl(line, report, source);
      EXPECT_EQ(
          line,
          to_json(report, source).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
              "\n")
          << m.substr(0, 200);
    }
  }
}

TEST(Text, ShowsTableTotalVerdict) {
  TextOptions o;
  o.local_offset = [](std::chrono::sys_seconds) { return 9 * 60; };
  std::string t = render_text(traced(), o);
  EXPECT_NE(t.find("Subject:    こんにちは"), std::string::npos);
  EXPECT_NE(t.find("2018-01-01 19:01:37 +0900  10:01:37"), std::string::npos);
  EXPECT_NE(t.find("+1m 30s"), std::string::npos);
  EXPECT_NE(t.find("<- slowest"), std::string::npos);
  EXPECT_NE(t.find("Total:      1m 37s (97 s)"), std::string::npos);
  EXPECT_NE(t.find("no spoofing suspected"), std::string::npos);
  EXPECT_TRUE(mail::is_valid_utf8(t));
}

TEST(Html, SelfContainedAndEscaped) {
  const char* evil =
      "Received: from <script>x</script> ([198.51.100.1]) by \"mx\" with ESMTP; Mon, 1 Jan 2018 "
      "10:00:00 +0000\r\nSubject: <img src=x onerror=alert(1)>\r\n\r\n";
  std::string h = render_html({traced(), traced(evil)});
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("<img"), std::string::npos);
  EXPECT_EQ(h.find("src="), h.find("&lt;img src=") + 8);
  EXPECT_EQ(h.find("<link"), std::string::npos);
  EXPECT_EQ(h.find("https://"), std::string::npos);
  EXPECT_NE(h.find("<svg"), std::string::npos);
  EXPECT_TRUE(mail::is_valid_utf8(h));
}

TEST(Duration, Human) {
  EXPECT_EQ(human_duration(0), "0s");
  EXPECT_EQ(human_duration(90), "1m 30s");
  EXPECT_EQ(human_duration(17998), "4h 59m");
  EXPECT_EQ(human_duration(-3600), "-1h 00m");
  EXPECT_EQ(human_duration(2 * 86400 + 3600), "2d 01h");
}

TEST(Mbox, SplitAndUnquote) {
  auto parts = split_mbox(
      "From a@b Mon Jan  1 00:00:00 2018\nSubject: one\n\nhello\nFrom the desk\n>From here\n\n"
      "From c@d Mon Jan  1 00:00:00 2018\nSubject: two\n\nbody\n");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_NE(parts[0].find("\nFrom here\n"), std::string::npos);
  EXPECT_NE(parts[1].find("Subject: two"), std::string::npos);
  EXPECT_EQ(split_mbox("Subject: plain\n\nFrom x\n").size(), 1u);
  EXPECT_EQ(split_mbox("").size(), 1u);
}

}  // namespace
}  // namespace tegami::trace
