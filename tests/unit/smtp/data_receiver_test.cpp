#include "proto/smtp/data_receiver.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "split_feed.hpp"

namespace tegami::smtp {
namespace {

using namespace std::string_literals;

using testing::all_splits;
using testing::describe_split;

struct Outcome {
  std::string result;  // "need", "complete", "bare", "long", "nul", "big", "drop"
  std::string body;    // for "complete"
  std::size_t consumed = 0;
  std::uint64_t lines = 0;
  bool operator==(const Outcome&) const = default;
};

std::string describe(const DataResult& r) {
  if (std::holds_alternative<DataComplete>(r)) return "complete";
  if (auto* e = std::get_if<DataError>(&r)) {
    switch (e->kind) {
      case DataErrorKind::kBareLineEnding:
        return "bare";
      case DataErrorKind::kLineTooLong:
        return "long";
      case DataErrorKind::kNul:
        return "nul";
      case DataErrorKind::kTooBig:
        return "big";
      case DataErrorKind::kTooBigDrop:
        return "drop";
    }
  }
  return "need";
}

// `normalize`: a bare LF ends a line (the default mode); false: strict.
Outcome run(const std::vector<std::string_view>& chunks, std::uint64_t max = 1 << 20,
            bool normalize = false) {
  DataReceiver d(max, 0, normalize);
  Outcome o{"need", "", 0, 0};
  for (auto chunk : chunks) {
    while (!chunk.empty()) {
      DataFeed f = d.feed(chunk);
      EXPECT_LE(f.consumed, chunk.size());
      chunk.remove_prefix(f.consumed);
      o.consumed += f.consumed;
      if (std::holds_alternative<NeedMore>(f.result)) {
        EXPECT_TRUE(chunk.empty()) << "NeedMore with input left";
        break;
      }
      o.result = describe(f.result);
      o.lines = d.lines();
      if (o.result == "complete") o.body = d.take_body();
      return o;
    }
  }
  return o;
}

struct Case {
  std::string name;
  std::string input;
  std::string result;
  std::string body;
  std::size_t consumed;  // npos: all of the input
};

constexpr auto kAll = std::string::npos;

std::vector<Case> cases() {
  std::string line998(998, 'a');
  std::string line999(999, 'a');
  return {
      {"empty message", ".\r\n", "complete", "", kAll},
      {"one line", "Hello\r\n.\r\n", "complete", "Hello\r\n", kAll},
      {"stops at terminator", "a\r\n.\r\nQUIT\r\n", "complete", "a\r\n", 6},
      {"stuffed dot", "..\r\n.\r\n", "complete", ".\r\n", kAll},
      {"stuffed dots", "..x\r\n...\r\n.\r\n", "complete", ".x\r\n..\r\n", kAll},
      {"leading dot deleted", ".x\r\n.\r\n", "complete", "x\r\n", kAll},
      {"dot mid line", "a.b\r\na.\r\n.\r\n", "complete", "a.b\r\na.\r\n", kAll},
      {"empty lines", "\r\n\r\n.\r\n", "complete", "\r\n\r\n", kAll},
      {"8-bit is data", "\xe6\x97\xa5x\r\n.\r\n", "complete", "\xe6\x97\xa5x\r\n", kAll},
      // Issue 14: a NUL anywhere fails the message, reported at the end of data
      // (read to the terminator, nothing behind it taken for commands).
      {"nul in a line", "\xe6\x97\xa5\0x\r\n.\r\nQUIT\r\n"s, "nul", "", 10},
      {"nul first", "\0\r\n.\r\n"s, "nul", "", kAll},
      {"nul before dot", "hello\r\n\0.\r\nRCPT TO:<a@b>\r\n.\r\n"s, "nul", "", kAll},
      {"nul after stuffed dot", "..\0\r\n.\r\n"s, "nul", "", kAll},
      {"nul at end of line", "a\0\r\nb\r\n.\r\n"s, "nul", "", kAll},
      {"nul and long line", "\0"s + line999 + "\r\n.\r\n", "long", "", kAll},
      {"998 octet line", line998 + "\r\n.\r\n", "complete", line998 + "\r\n", kAll},
      {"999 octet line", line999 + "\r\nmore\r\n.\r\n", "long", "", kAll},
      {"bare lf", "a\nb\r\n.\r\n", "bare", "", 2},
      {"bare cr", "a\rb\r\n.\r\n", "bare", "", 2},
      {"bare lf first", "\n.\r\n", "bare", "", 1},
      {"dot bare lf first", ".\n", "bare", "", 2},
      {"unterminated", "a\r\n.", "need", "", kAll},
      {"unterminated cr", "a\r\n.\r", "need", "", kAll},
  };
}

TEST(DataReceiver, TableAtEverySplit) {
  for (const auto& c : cases()) {
    Outcome whole = run({c.input});
    EXPECT_EQ(whole.result, c.result) << c.name;
    EXPECT_EQ(whole.body, c.body) << c.name;
    EXPECT_EQ(whole.consumed, c.consumed == kAll ? c.input.size() : c.consumed) << c.name;
    for (const auto& split : all_splits(c.input)) {
      EXPECT_EQ(run(split), whole) << c.name << " split " << describe_split(split);
    }
  }
}

// CHECKLIST "SMTP: end of DATA": none of these may end DATA. Each is placed
// after a line of text and followed by a smuggled transaction and a real end.
struct Smuggle {
  std::string name;
  std::string seq;
  bool is_data;      // true: the sequence is message text; false: bare line ending
  bool nul = false;  // message text, but the NUL fails the message (issue 14)
};

std::vector<Smuggle> smuggling() {
  using namespace std::string_literals;
  return {
      {"LF.LF", "\n.\n", false},
      {"LF.CRLF", "\n.\r\n", false},
      {"CRLF.LF", "\r\n.\n", false},
      {"CR.CR", "\r.\r", false},
      {"CR.LF", "\r.\n", false},
      {"LF.CR", "\n.\r", false},
      {"CR.CRLF", "\r.\r\n", false},
      {"CRLF.CR", "\r\n.\r", false},
      {"CRLF.CRx", "\r\n.\rx", false},
      {"CRLF..CRLF", "\r\n..\r\n", true},
      {"CRLF NUL.CRLF", "\r\n\0.\r\n"s, true, true},
      {"CRLF.CRCRLF", "\r\n.\r\r\n", false},
      {"CRCRLF.CRCRLF", "\r\r\n.\r\r\n", false},
  };
}

TEST(DataReceiver, SmugglingNeverEndsData) {
  const std::string smuggled =
      "MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n"
      "Subject: smuggled\r\n\r\nhi\r\n";
  for (const auto& s : smuggling()) {
    std::string input = "Subject: real\r\n\r\nbody" + s.seq + smuggled + ".\r\n";
    Outcome whole = run({input});
    if (s.nul) {
      EXPECT_EQ(whole.result, "nul") << s.name;
      EXPECT_EQ(whole.consumed, input.size()) << s.name;
    } else if (s.is_data) {
      EXPECT_EQ(whole.result, "complete") << s.name;
      EXPECT_EQ(whole.consumed, input.size()) << s.name;
      EXPECT_NE(whole.body.find("MAIL FROM:<evil@example.net>"), std::string::npos) << s.name;
    } else {
      EXPECT_EQ(whole.result, "bare") << s.name;
      // The error comes within the sequence: nothing smuggled was read.
      EXPECT_LE(whole.consumed, 21 + s.seq.size()) << s.name;
    }
    for (const auto& split : all_splits(input)) {
      EXPECT_EQ(run(split), whole) << s.name << " split " << describe_split(split);
    }
  }
}

// Issue 12 / CHECKLIST: the default "normalize" mode. A bare LF ends a
// content line (stored as CRLF); only CRLF "." CRLF ends DATA; a bare CR is
// still fatal.
TEST(DataReceiver, NormalizeTableAtEverySplit) {
  const std::vector<Case> rows = {
      {"bare lf", "a\nb\r\n.\r\n", "complete", "a\r\nb\r\n", kAll},
      {"lf only message", "From: x\n\nhi\n\r\n.\r\n", "complete", "From: x\r\n\r\nhi\r\n\r\n",
       kAll},
      {"lf.lf is content", "a\n.\nb\r\n.\r\n", "complete", "a\r\n.\r\nb\r\n", kAll},
      {"lf.crlf is content", "a\n.\r\nb\r\n.\r\n", "complete", "a\r\n.\r\nb\r\n", kAll},
      {"crlf.lf is content", "a\r\n.\nb\r\n.\r\n", "complete", "a\r\n.\r\nb\r\n", kAll},
      {"stuffed dot after lf", "a\n..x\n.\r\n", "need", "", kAll},
      {"stuffed dot after lf, ended", "a\n..x\r\n.\r\n", "complete", "a\r\n.x\r\n", kAll},
      {"bare lf first", "\n.\r\n", "need", "", kAll},
      {"bare lf first, ended", "\n.\r\n.\r\n", "complete", "\r\n.\r\n", kAll},
      {"dot bare lf first", ".\n.\r\n.\r\n", "complete", ".\r\n.\r\n", kAll},
      {"bare cr still fatal", "a\rb\r\n.\r\n", "bare", "", 2},
      {"lf then cr", "a\n\rb\r\n.\r\n", "bare", "", 3},
      {"dot cr x", "a\r\n.\rx\r\n.\r\n", "bare", "", 5},
      {"998 octets then lf", std::string(998, 'a') + "\n.\r\n.\r\n", "complete",
       std::string(998, 'a') + "\r\n.\r\n", kAll},
      {"999 octets then lf", std::string(999, 'a') + "\nx\r\n.\r\n", "long", "", kAll},
  };
  for (const auto& c : rows) {
    Outcome whole = run({c.input}, 1 << 20, true);
    EXPECT_EQ(whole.result, c.result) << c.name;
    EXPECT_EQ(whole.body, c.body) << c.name;
    EXPECT_EQ(whole.consumed, c.consumed == kAll ? c.input.size() : c.consumed) << c.name;
    for (const auto& split : all_splits(c.input)) {
      EXPECT_EQ(run(split, 1 << 20, true), whole) << c.name << " split " << describe_split(split);
    }
  }
  // The size counts the CRLF a bare LF stands for (what is stored).
  EXPECT_EQ(run({"0123456789\n.\r\n"}, 12, true).result, "need");
  EXPECT_EQ(run({"0123456789\n\r\n.\r\n"}, 12, true).result, "big");
}

TEST(DataReceiver, NormalizeSmugglingNeverEndsData) {
  const std::string smuggled =
      "MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n"
      "Subject: smuggled\r\n\r\nhi\r\n";
  for (const auto& s : smuggling()) {
    std::string input = "Subject: real\r\n\r\nbody" + s.seq + smuggled + ".\r\n";
    Outcome whole = run({input}, 1 << 20, true);
    // Every LF-based sequence is content now; every CR-based one is fatal.
    const bool has_bare_cr = s.seq.find("\r.") != std::string::npos ||
                             s.seq.find(".\r\r") != std::string::npos ||
                             s.seq.find("\r\r") != std::string::npos ||
                             (s.seq.size() >= 2 && s.seq.substr(s.seq.size() - 2) == ".\r") ||
                             s.seq.find(".\rx") != std::string::npos;
    if (s.nul) {
      EXPECT_EQ(whole.result, "nul") << s.name;
      EXPECT_EQ(whole.consumed, input.size()) << s.name;
    } else if (!has_bare_cr) {
      EXPECT_EQ(whole.result, "complete") << s.name;
      EXPECT_EQ(whole.consumed, input.size()) << s.name;
      EXPECT_NE(whole.body.find("MAIL FROM:<evil@example.net>"), std::string::npos) << s.name;
    } else {
      EXPECT_EQ(whole.result, "bare") << s.name;
      EXPECT_LE(whole.consumed, 21 + s.seq.size()) << s.name;
    }
    for (const auto& split : all_splits(input)) {
      EXPECT_EQ(run(split, 1 << 20, true), whole) << s.name << " split " << describe_split(split);
    }
  }
}

TEST(DataReceiver, LoneDotAtEndOfStreamIsNotAnEnd) {
  EXPECT_EQ(run({"body\r\n."}).result, "need");
  EXPECT_EQ(run({"body\r\n.\r"}).result, "need");
  EXPECT_EQ(run({"body."}).result, "need");
}

TEST(DataReceiver, SizeLimit) {
  // Exactly the limit: "0123456789\r\n" is 12 octets.
  Outcome ok = run({"0123456789\r\n.\r\n"}, 12);
  EXPECT_EQ(ok.result, "complete");
  EXPECT_EQ(ok.body, "0123456789\r\n");
  Outcome big = run({"0123456789\r\nx\r\n.\r\n"}, 12);
  EXPECT_EQ(big.result, "big");
  EXPECT_EQ(big.consumed, 18u);  // read to the terminator, nothing after
  for (const auto& split : all_splits("0123456789\r\nx\r\n.\r\nNOOP\r\n")) {
    EXPECT_EQ(run(split, 12).result, "big") << describe_split(split);
  }
}

TEST(DataReceiver, OverSizeKeepsMemoryBoundedAndDropsPastHardLimit) {
  const std::uint64_t max = 1000;
  DataReceiver d(max);
  EXPECT_EQ(d.hard_limit(), max + kMinDiscardAllowance);
  std::string line(998, 'x');
  line += "\r\n";
  std::uint64_t fed = 0;
  DataResult last = NeedMore{};
  std::size_t consumed = 0;
  while (std::holds_alternative<NeedMore>(last)) {
    DataFeed f = d.feed(line);
    consumed = f.consumed;
    last = f.result;
    fed += f.consumed;
    ASSERT_LE(fed, d.hard_limit() + line.size());
  }
  ASSERT_TRUE(std::holds_alternative<DataError>(last));
  EXPECT_EQ(std::get<DataError>(last).kind, DataErrorKind::kTooBigDrop);
  EXPECT_GT(d.size(), d.hard_limit());
  EXPECT_LE(consumed, line.size());
  EXPECT_TRUE(d.take_body().empty());
  EXPECT_TRUE(error_drops(DataErrorKind::kTooBigDrop));
  EXPECT_FALSE(error_drops(DataErrorKind::kTooBig));
}

TEST(DataReceiver, HardLimitIsExactForAnySplit) {
  // max 0: hard limit = kMinDiscardAllowance; one huge line crosses it.
  std::string big(kMinDiscardAllowance + 10, 'x');
  DataReceiver a(0);
  DataFeed f = a.feed(big);
  EXPECT_EQ(f.consumed, kMinDiscardAllowance + 1);
  EXPECT_EQ(std::get<DataError>(f.result).kind, DataErrorKind::kTooBigDrop);
  DataReceiver b(0);
  std::size_t total = 0;
  std::string_view rest = big;
  while (true) {
    DataFeed g = b.feed(rest.substr(0, 4093));
    total += g.consumed;
    rest.remove_prefix(g.consumed);
    if (!std::holds_alternative<NeedMore>(g.result)) break;
  }
  EXPECT_EQ(total, kMinDiscardAllowance + 1);
}

TEST(DataReceiver, CountsLines) {
  Outcome o = run({"a\r\nb\r\n\r\n.\r\n"});
  EXPECT_EQ(o.lines, 3u);
}

TEST(DataReceiver, ErrorReplies) {
  EXPECT_EQ(error_reply(DataErrorKind::kBareLineEnding).substr(0, 10), "550 5.5.2 ");
  EXPECT_EQ(error_reply(DataErrorKind::kLineTooLong).substr(0, 10), "554 5.6.0 ");
  EXPECT_EQ(error_reply(DataErrorKind::kNul), "554 5.6.0 Error: message contains a NUL octet\r\n");
  EXPECT_EQ(error_reply(DataErrorKind::kTooBig).substr(0, 10), "552 5.3.4 ");
  EXPECT_EQ(error_reply(DataErrorKind::kTooBigDrop).substr(0, 10), "552 5.3.4 ");
}

}  // namespace
}  // namespace tegami::smtp

namespace tegami::smtp {
namespace {

struct RecordingSink : BodySink {
  std::string data;
  std::size_t writes = 0, largest = 0, abandons = 0;
  void write(std::string_view crlf) override {
    data.append(crlf);
    ++writes;
    largest = std::max(largest, crlf.size());
  }
  void abandon(std::string_view) override { ++abandons; }
};

// Issue 13: with a sink the message streams out in bounded pieces, the
// same bytes as the in-memory body at every split, and nothing stays behind.
TEST(DataReceiver, SinkGetsTheSameBytesInBoundedPieces) {
  std::string input;
  for (int i = 0; i < 5000; ++i)
    input += (i % 7 == 0 ? ".." : "") + std::string(70, 'a' + i % 26) + "\r\n";
  input += ".\r\n";
  DataReceiver mem(1 << 30);
  ASSERT_TRUE(std::holds_alternative<DataComplete>(mem.feed(input).result));
  const std::string expected = mem.take_body();
  for (std::size_t step : {1u, 3u, 4096u, 100000u}) {
    RecordingSink sink;
    DataReceiver d(1 << 30, 0, true, &sink);
    std::string_view rest = input;
    DataResult last = NeedMore{};
    while (!rest.empty() && std::holds_alternative<NeedMore>(last)) {
      auto f = d.feed(rest.substr(0, step));
      rest.remove_prefix(f.consumed);
      last = f.result;
    }
    ASSERT_TRUE(std::holds_alternative<DataComplete>(last)) << step;
    EXPECT_EQ(sink.data, expected) << step;
    EXPECT_LE(sink.largest, kSinkChunk + 1000) << step;
    EXPECT_GT(sink.writes, 1u) << step;
    EXPECT_EQ(sink.abandons, 0u);
    EXPECT_TRUE(d.take_body().empty());
  }
}

// Issue 14: the partial files go as soon as a NUL is seen, at every split.
TEST(DataReceiver, SinkIsAbandonedAtANul) {
  const std::string input = "ok\r\nhello\0\r\nmore\r\n.\r\n"s;
  for (const auto& split : all_splits(input)) {
    RecordingSink sink;
    DataReceiver d(1 << 20, 0, true, &sink);
    DataResult last = NeedMore{};
    std::size_t consumed = 0;
    for (auto chunk : split) {
      auto f = d.feed(chunk);
      consumed += f.consumed;
      last = f.result;
      if (!std::holds_alternative<NeedMore>(last)) break;
    }
    ASSERT_TRUE(std::holds_alternative<DataError>(last)) << describe_split(split);
    EXPECT_EQ(std::get<DataError>(last).kind, DataErrorKind::kNul);
    EXPECT_EQ(consumed, input.size());
    EXPECT_EQ(sink.abandons, 1u) << describe_split(split);
    EXPECT_EQ(sink.data.find('\0'), std::string::npos);
  }
}

TEST(DataReceiver, SinkIsAbandonedOnceOverTheLimit) {
  RecordingSink sink;
  DataReceiver d(100, 0, true, &sink);
  std::string input;
  for (int i = 0; i < 50; ++i) input += "0123456789\r\n";
  input += ".\r\n";
  auto f = d.feed(input);
  ASSERT_TRUE(std::holds_alternative<DataError>(f.result));
  EXPECT_EQ(std::get<DataError>(f.result).kind, DataErrorKind::kTooBig);
  EXPECT_EQ(sink.abandons, 1u);
  EXPECT_LE(sink.data.size(), 100u);
}

}  // namespace
}  // namespace tegami::smtp
