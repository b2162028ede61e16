// BDAT (RFC 3030 CHUNKING, BINARYMIME): the chunk receiver and the session.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "fake_driver.hpp"
#include "proto/smtp/bdat_receiver.hpp"
#include "proto/smtp/server_session.hpp"
#include "split_feed.hpp"

namespace tegami::smtp {
namespace {

using testing::FakeDriver;

struct Received {
  std::string body;
  std::optional<BdatErrorKind> error;
  std::uint64_t lines = 0;
};

// Feeds `message` as chunks cut at `cuts` (the last one LAST), each chunk in
// the pieces of `split`.
Received receive(std::string_view message, bool binary, std::uint64_t max_size,
                 const std::vector<std::size_t>& cuts = {}) {
  BdatReceiver r(max_size, binary);
  std::size_t at = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(message.size());
  for (std::size_t k = 0; k < ends.size(); ++k) {
    std::string_view chunk = message.substr(at, ends[k] - at);
    r.start_chunk(chunk.size(), k + 1 == ends.size());
    std::size_t used = r.feed(chunk);
    EXPECT_EQ(used, chunk.size());
    EXPECT_TRUE(r.chunk_complete());
    at = ends[k];
  }
  return {r.take_body(), r.error(), r.lines()};
}

struct TextCase {
  std::string input;
  std::string body;  // expected when no error
  std::optional<BdatErrorKind> error;
};

TEST(BdatReceiver, TextLineEndingsAtEveryChunkBoundary) {
  using namespace std::string_literals;
  const std::vector<TextCase> cases = {
      {"a\r\nb\r\n", "a\r\nb\r\n", std::nullopt},
      {"a\nb\n", "a\r\nb\r\n", std::nullopt},  // bare LF ends a line, stored as CRLF
      {"a\r\n.\r\nMAIL FROM:<x@y>\r\n", "a\r\n.\r\nMAIL FROM:<x@y>\r\n", std::nullopt},
      {"..x\r\n.\r\n", "..x\r\n.\r\n", std::nullopt},  // no transparency dots in BDAT
      {"\x80\r\n", "\x80\r\n", std::nullopt},
      // Issue 14: NUL fails a text message (read to the end of the chunk).
      {"\0\x80\r\n"s, "", BdatErrorKind::kNul},
      {"hello\r\n\0.\r\nRCPT TO:<a@b>\r\n"s, "", BdatErrorKind::kNul},
      {"end\0"s, "", BdatErrorKind::kNul},
      {"no end of line", "no end of line", std::nullopt},
      {"", "", std::nullopt},
      {"a\rb\r\n", "", BdatErrorKind::kBareCr},
      {"a\r\r\n", "", BdatErrorKind::kBareCr},
      {"last\r", "", BdatErrorKind::kBareCr},
  };
  for (const auto& c : cases) {
    for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
      Received r = receive(c.input, false, 1000, {cut});
      EXPECT_EQ(r.error, c.error) << "input " << c.input << " cut " << cut;
      if (!c.error) {
        EXPECT_EQ(r.body, c.body) << "cut " << cut;
      }
    }
  }
}

TEST(BdatReceiver, SplitReadsGiveTheSameBody) {
  const std::string message = "Subject: x\n\r\nline\r\nnext\n";
  for (const auto& split : testing::all_splits(message)) {
    BdatReceiver r(1000, false);
    r.start_chunk(message.size(), true);
    for (auto piece : split) EXPECT_EQ(r.feed(piece), piece.size());
    EXPECT_TRUE(r.chunk_complete());
    EXPECT_FALSE(r.error());
    EXPECT_EQ(r.lines(), 4u);
    EXPECT_EQ(r.take_body(), "Subject: x\r\n\r\nline\r\nnext\r\n")
        << testing::describe_split(split);
  }
}

TEST(BdatReceiver, ConsumesOnlyTheChunk) {
  BdatReceiver r(1000, false);
  r.start_chunk(3, false);
  EXPECT_EQ(r.feed("abcBDAT 1 LAST\r\n"), 3u);
  EXPECT_TRUE(r.chunk_complete());
  EXPECT_FALSE(r.last());
  r.start_chunk(0, true);
  EXPECT_TRUE(r.chunk_complete());  // BDAT 0 LAST: nothing to read
  EXPECT_EQ(r.feed("QUIT\r\n"), 0u);
  EXPECT_EQ(r.received(), 3u);
  EXPECT_EQ(r.take_body(), "abc");
}

TEST(BdatReceiver, LineLimitForTextOnly) {
  std::string ok(998, 'x');
  ok += "\r\n";
  EXPECT_FALSE(receive(ok, false, 100000).error);
  std::string longer(999, 'x');
  longer += "\r\n";
  EXPECT_EQ(receive(longer, false, 100000).error, BdatErrorKind::kLineTooLong);
  EXPECT_EQ(receive(longer, false, 100000, {500}).error, BdatErrorKind::kLineTooLong);
  Received bin = receive(longer, true, 100000);
  EXPECT_FALSE(bin.error);
  EXPECT_EQ(bin.body, longer);
}

TEST(BdatReceiver, BinaryKeepsEveryOctet) {
  using namespace std::string_literals;
  const std::string message = "a\rb\nc\r\n\0\xff\r"s;
  for (std::size_t cut = 0; cut <= message.size(); ++cut) {
    Received r = receive(message, true, 1000, {cut});
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.body, message);
  }
}

TEST(BdatReceiver, SizeLimitIsNeverExceededInMemory) {
  // Announced over the limit: failed at once, the octets only counted.
  BdatReceiver r(10, false);
  r.start_chunk(11, true);
  EXPECT_EQ(r.error(), BdatErrorKind::kTooBig);
  EXPECT_EQ(r.feed(std::string(11, 'x')), 11u);
  EXPECT_EQ(r.take_body(), "");

  // The sum of chunks over the limit.
  BdatReceiver s(10, false);
  s.start_chunk(6, false);
  s.feed("abcdef");
  EXPECT_FALSE(s.error());
  s.start_chunk(6, true);
  EXPECT_EQ(s.error(), BdatErrorKind::kTooBig);
  s.feed("ghijkl");
  EXPECT_EQ(s.take_body(), "");

  // Within the announced limit but over it once bare LFs become CRLF.
  Received grown = receive("\n\n\n\n\n\n", false, 10);
  EXPECT_EQ(grown.error, BdatErrorKind::kTooBig);
  EXPECT_EQ(grown.body, "");
  EXPECT_FALSE(receive("\n\n\n\n\n", false, 10).error);
}

// ---- the session ----

SessionConfig test_config() {
  SessionConfig c;
  c.hostname = "mx.example.test";
  c.session_id = "b1";
  return c;
}

void transaction(FakeDriver& d, std::string_view mail_params = "") {
  d.connect();
  d.client("EHLO c.example\r\n");
  d.client("MAIL FROM:<a@example.net>" + std::string(mail_params) +
           "\r\nRCPT TO:<alice@example.test>\r\n");
}

TEST(ServerSessionBdat, EhloOffersChunkingAndBinaryMime) {
  FakeDriver d(test_config());
  d.connect();
  d.client("EHLO c.example\r\n");
  EXPECT_NE(d.log().find("S: 250-CHUNKING\n"), std::string::npos);
  EXPECT_NE(d.log().find("S: 250-BINARYMIME\n"), std::string::npos);
}

TEST(ServerSessionBdat, PipelinedChunksAtEveryByteBoundary) {
  const std::string input =
      "MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\n"
      "BDAT 12\r\nSubject: x\r\n"
      "BDAT 20 LAST\r\n\r\nBDAT 3\r\nQUIT\r\n..\r\n"
      "NOOP\r\n";
  std::string reference;
  for (const auto& split : testing::all_splits(input)) {
    FakeDriver d(test_config());
    d.connect();
    d.client("EHLO c.example\r\n");
    for (auto piece : split) d.client(piece);
    ASSERT_EQ(d.delivered().size(), 1u) << testing::describe_split(split);
    EXPECT_EQ(d.delivered()[0].body, "Subject: x\r\n\r\nBDAT 3\r\nQUIT\r\n..\r\n");
    EXPECT_EQ(d.delivered()[0].lines, 5u);
    EXPECT_FALSE(d.closed());
    EXPECT_EQ(d.checks(), 1u);
    // The log shows the input as fed; compare the server's side only.
    std::string server;
    std::size_t pos = 0;
    const std::string& log = d.log();
    while (pos < log.size()) {
      std::size_t eol = log.find('\n', pos);
      std::string line = log.substr(pos, eol - pos);
      if (line.rfind("S: ", 0) == 0 || line.rfind("A: ", 0) == 0) server += line + "\n";
      pos = eol + 1;
    }
    if (reference.empty()) {
      reference = server;
      EXPECT_NE(server.find("S: 250 2.0.0 Ok: 12 octets received\n"), std::string::npos);
      EXPECT_NE(server.find("S: 250 2.0.0 Ok: queued as Q1\nS: 250 2.0.0 Ok\n"), std::string::npos)
          << server;
    } else {
      EXPECT_EQ(server, reference) << testing::describe_split(split);
    }
  }
}

TEST(ServerSessionBdat, SmugglingTextInAChunkIsContent) {
  const std::string content =
      "Subject: real\r\n\r\nbody\r\n.\r\nMAIL FROM:<admin@example.test>\r\n"
      "RCPT TO:<bob@example.test>\r\nDATA\r\nevil\r\n.\r\n";
  FakeDriver d(test_config());
  transaction(d);
  d.client("BDAT " + std::to_string(content.size()) + " LAST\r\n" + content);
  ASSERT_EQ(d.delivered().size(), 1u);
  EXPECT_EQ(d.delivered()[0].body, content);
  EXPECT_EQ(d.checks(), 1u) << "a smuggled RCPT was run";
  EXPECT_EQ(d.log().find("250 2.1.0"), d.log().rfind("250 2.1.0")) << "a smuggled MAIL ran";
}

TEST(ServerSessionBdat, OutOfSequenceChunksAreReadAndDiscarded) {
  FakeDriver d(test_config());
  d.connect();
  d.client("EHLO c.example\r\n");
  // The 10 octets look like commands; they must not run.
  d.client("BDAT 10 LAST\r\nQUIT\r\nRSETNOOP\r\n");
  EXPECT_FALSE(d.closed());
  EXPECT_NE(d.log().find("S: 503 5.5.1 Error: need MAIL command\nS: 250 2.0.0 Ok\n"),
            std::string::npos)
      << d.log();
  EXPECT_EQ(d.log().find("221"), std::string::npos);

  // MAIL but no RCPT yet; then every RCPT refused.
  FakeDriver e(test_config());
  e.connect();
  e.client("EHLO c.example\r\n");
  e.client("MAIL FROM:<a@example.net>\r\nBDAT 4\r\nQUITRCPT TO:<nobody@example.test>\r\n");
  e.client("BDAT 4 LAST\r\nQUITNOOP\r\n");
  EXPECT_NE(e.log().find("S: 503 5.5.1 Error: need RCPT command\n"), std::string::npos);
  EXPECT_NE(e.log().find("S: 554 5.5.1 Error: no valid recipients\nS: 250 2.0.0 Ok\n"),
            std::string::npos)
      << e.log();
  EXPECT_TRUE(e.delivered().empty());
  EXPECT_FALSE(e.closed());
}

TEST(ServerSessionBdat, BdatAfterLastIsRefused) {
  FakeDriver d(test_config());
  transaction(d);
  d.client("BDAT 3 LAST\r\nabcBDAT 3\r\nxyzNOOP\r\n");
  ASSERT_EQ(d.delivered().size(), 1u);
  EXPECT_EQ(d.delivered()[0].body, "abc");
  EXPECT_NE(d.log().find("S: 503 5.5.1 Error: need MAIL command\nS: 250 2.0.0 Ok\n"),
            std::string::npos)
      << d.log();
}

TEST(ServerSessionBdat, ZeroLastDeliversWhatCameBefore) {
  FakeDriver d(test_config());
  transaction(d);
  d.client("BDAT 6\r\nhello\nBDAT 0 LAST\r\n");
  ASSERT_EQ(d.delivered().size(), 1u);
  EXPECT_EQ(d.delivered()[0].body, "hello\r\n");

  FakeDriver e(test_config());
  transaction(e);
  e.client("BDAT 0 LAST\r\n");
  ASSERT_EQ(e.delivered().size(), 1u);
  EXPECT_EQ(e.delivered()[0].body, "");
}

TEST(ServerSessionBdat, OverSizeIsReadThenRefused) {
  SessionConfig c = test_config();
  c.max_message_size = 100;
  FakeDriver d(c);
  transaction(d);
  d.client("BDAT 60\r\n" + std::string(60, 'x') + "BDAT 60\r\n" + std::string(60, 'y') +
           "BDAT 5 LAST\r\nNOOP\rNOOP\r\n");
  EXPECT_TRUE(d.delivered().empty());
  EXPECT_FALSE(d.closed());
  EXPECT_NE(d.log().find("S: 250 2.0.0 Ok: 60 octets received\n"
                         "S: 552 5.3.4 Error: message size exceeds fixed maximum message size\n"
                         "S: 503 5.5.1 Error: need MAIL command\n"
                         "S: 250 2.0.0 Ok\n"),
            std::string::npos)
      << d.log();
  EXPECT_EQ(d.session().state(), State::kReady);
}

TEST(ServerSessionBdat, FarOverSizeOrUnreadableSizeDrops) {
  SessionConfig c = test_config();
  c.max_message_size = 1000;
  for (std::string cmd : {"BDAT 99999999999999999999999 LAST\r\n", "BDAT 10485761001\r\n"}) {
    FakeDriver d(c);
    transaction(d);
    d.client(cmd);
    EXPECT_TRUE(d.closed()) << cmd;
    EXPECT_NE(d.log().find("S: 552 5.3.4 "), std::string::npos) << cmd;
  }
  for (std::string cmd : {"BDAT\r\n", "BDAT x LAST\r\n", "BDAT -1\r\n", "BDAT 1x\r\n"}) {
    FakeDriver d(c);
    transaction(d);
    d.client(cmd + "QUIT\r\n");
    EXPECT_TRUE(d.closed()) << cmd;
    EXPECT_NE(d.log().find("S: 501 5.5.4 Syntax: BDAT chunk-size [LAST]\nA: close"),
              std::string::npos)
        << d.log();
  }
  // Out of sequence and far too large to discard: also a drop.
  FakeDriver e(c);
  e.connect();
  e.client("EHLO c.example\r\n");
  e.client("BDAT 10485761001 LAST\r\n");
  EXPECT_TRUE(e.closed());
}

TEST(ServerSessionBdat, BadEndMarkerIsReadThenRefused) {
  FakeDriver d(test_config());
  transaction(d);
  d.client("BDAT 3 LASTLY\r\nabcNOOP\r\n");
  EXPECT_NE(d.log().find("S: 501 5.5.4 Syntax: BDAT chunk-size [LAST]\nS: 250 2.0.0 Ok\n"),
            std::string::npos)
      << d.log();
  EXPECT_EQ(d.session().state(), State::kRcpt);  // nothing was received: the transaction stays
  d.client("BDAT 2 last\r\nok");
  ASSERT_EQ(d.delivered().size(), 1u);
  EXPECT_EQ(d.delivered()[0].body, "ok");
}

TEST(ServerSessionBdat, DataAfterBdatAndBinaryMimeWithData) {
  FakeDriver d(test_config());
  transaction(d);
  d.client("BDAT 3\r\nabc");
  d.client("DATA\r\n");
  EXPECT_NE(d.log().find("S: 503 5.5.1 Error: DATA after BDAT in the same transaction\n"),
            std::string::npos);
  EXPECT_NE(d.session().state(), State::kData);

  FakeDriver e(test_config());
  transaction(e, " BODY=BINARYMIME");
  e.client("DATA\r\n");
  EXPECT_NE(e.log().find("S: 503 5.5.1 Error: BODY=BINARYMIME requires BDAT\n"), std::string::npos);
  EXPECT_EQ(e.session().state(), State::kRcpt);
}

TEST(ServerSessionBdat, BinaryMimeKeepsOctetsAndIsFlagged) {
  using namespace std::string_literals;
  ServerSession s(test_config());
  s.step(Connected{});
  s.step(Input{"EHLO c.example\r\n"});
  s.step(Input{"MAIL FROM:<a@example.net> BODY=BINARYMIME\r\nRCPT TO:<alice@example.test>\r\n"});
  Actions a = s.step(SenderChecked{true, ""});
  ASSERT_FALSE(a.empty());
  ASSERT_TRUE(std::holds_alternative<CheckRecipient>(a.back()));
  EXPECT_TRUE(std::get<CheckRecipient>(a.back()).binary_mime);
  s.step(RecipientChecked{true, "", {Destination::mailbox("example.test", "alice")}});
  const std::string content = "x\ry\n\0\xfe"s;
  a = s.step(Input{"BDAT 6 LAST\r\n" + content});
  ASSERT_FALSE(a.empty());
  ASSERT_TRUE(std::holds_alternative<Deliver>(a.back()));
  const Envelope& env = std::get<Deliver>(a.back()).envelope;
  EXPECT_TRUE(env.binary_mime);
  EXPECT_EQ(env.body, content);
}

TEST(ServerSessionBdat, BareCrFailsTheMessageNotTheSession) {
  FakeDriver d(test_config());
  transaction(d);
  d.client("BDAT 5 LAST\r\na\rb\r\nNOOP\r\n");
  EXPECT_TRUE(d.delivered().empty());
  EXPECT_NE(d.log().find("S: 554 5.6.0 Error: bare <CR> in message content\nS: 250 2.0.0 Ok\n"),
            std::string::npos)
      << d.log();
  EXPECT_FALSE(d.closed());
}

TEST(ServerSessionBdat, NulFailsATextMessageNotTheSession) {
  using namespace std::string_literals;
  FakeDriver d(test_config());
  transaction(d);
  d.client("BDAT 10 LAST\r\na\r\n\0.\r\nx\r\nNOOP\r\n"s);
  EXPECT_TRUE(d.delivered().empty());
  EXPECT_NE(d.log().find("S: 554 5.6.0 Error: message contains a NUL octet\nS: 250 2.0.0 Ok\n"),
            std::string::npos)
      << d.log();
  EXPECT_FALSE(d.closed());
}

TEST(ServerSessionBdat, RsetForgetsEarlierChunks) {
  FakeDriver d(test_config());
  transaction(d);
  d.client("BDAT 3\r\nabcRSET\r\n");
  d.client("MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\nBDAT 3 LAST\r\nxyz");
  ASSERT_EQ(d.delivered().size(), 1u);
  EXPECT_EQ(d.delivered()[0].body, "xyz");
}

TEST(ServerSessionBdat, ShutdownWaitsForTheChunk) {
  FakeDriver d(test_config());
  transaction(d);
  d.client("BDAT 6\r\nabc");
  d.event(Shutdown{});
  EXPECT_FALSE(d.closed());
  d.client("def");
  EXPECT_TRUE(d.closed());
  EXPECT_NE(d.log().find("S: 250 2.0.0 Ok: 6 octets received\nS: 421 4.3.2 "), std::string::npos)
      << d.log();
}

TEST(ServerSessionBdat, ChunksPipelinedAfterAFailureAreNotAnErrorFlood) {
  SessionConfig c = test_config();
  c.max_message_size = 100;
  FakeDriver d(c);
  transaction(d);
  std::string input = "BDAT 101\r\n" + std::string(101, 'x');
  for (int i = 0; i < 30; ++i) input += "BDAT 3\r\nabc";
  d.client(input + "NOOP\r\n");
  EXPECT_FALSE(d.closed());
  EXPECT_EQ(d.session().errors(), 1u);  // the 552 only
  EXPECT_EQ(d.log().find("A: delay"), std::string::npos);
  // A new MAIL ends that grace: a BDAT after a completed message counts.
  d.client("MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\nBDAT 1 LAST\r\nx");
  d.client("BDAT 1\r\nx");
  EXPECT_EQ(d.delivered().size(), 1u);
  EXPECT_EQ(d.session().errors(), 1u);  // a delivered message forgives earlier errors; then the 503
}

struct BdatSink : BodySink {
  std::string data;
  std::size_t largest = 0, abandons = 0;
  std::string why;
  void write(std::string_view crlf) override {
    data.append(crlf);
    largest = std::max(largest, crlf.size());
  }
  void abandon(std::string_view reason) override {
    ++abandons;
    why = std::string(reason);
  }
};

// Issue 13: with a sink the message streams out in bounded pieces across
// chunks and reads, the same bytes as the in-memory body.
TEST(BdatReceiver, SinkGetsTheSameBytesInBoundedPieces) {
  std::string message;
  for (int i = 0; i < 6000; ++i)
    message += std::string(70, static_cast<char>('a' + i % 26)) + (i % 5 ? "\r\n" : "\n");
  const Received whole = receive(message, false, 1 << 30);
  ASSERT_FALSE(whole.error);
  for (std::size_t chunk : {std::size_t{1000}, std::size_t{65536}, std::size_t{200000}}) {
    for (std::size_t read : {std::size_t{7}, std::size_t{4096}, std::size_t{1 << 20}}) {
      BdatSink sink;
      BdatReceiver r(1 << 30, false, message.size(), &sink);
      for (std::size_t at = 0; at < message.size(); at += chunk) {
        std::string_view c = std::string_view(message).substr(at, chunk);
        r.start_chunk(c.size(), at + chunk >= message.size());
        for (std::size_t k = 0; k < c.size(); k += read) r.feed(c.substr(k, read));
        ASSERT_TRUE(r.chunk_complete());
      }
      ASSERT_FALSE(r.error());
      EXPECT_EQ(r.take_body(), "");
      EXPECT_EQ(sink.data, whole.body) << chunk << "/" << read;
      EXPECT_LE(sink.largest, kSinkChunk + read + 2) << chunk << "/" << read;
      EXPECT_EQ(sink.abandons, 0u);
    }
  }
}

// Issue 14: a NUL fails the message whatever the reads, and its sink is
// abandoned at once (the partial files go).
TEST(BdatReceiver, NulAtEveryReadSplit) {
  using namespace std::string_literals;
  const std::string message = "ok\r\nhello\r\n\0.\r\nRCPT TO:<a@b>\r\n"s;
  for (const auto& split : testing::all_splits(message)) {
    BdatSink sink;
    BdatReceiver r(1000, false, 0, &sink);
    r.start_chunk(message.size(), true);
    for (auto piece : split) EXPECT_EQ(r.feed(piece), piece.size());
    EXPECT_TRUE(r.chunk_complete());
    EXPECT_EQ(r.error(), BdatErrorKind::kNul) << testing::describe_split(split);
    EXPECT_EQ(sink.abandons, 1u) << testing::describe_split(split);
    EXPECT_EQ(sink.data.find('\0'), std::string::npos);
  }
  EXPECT_EQ(error_reply(BdatErrorKind::kNul), "554 5.6.0 Error: message contains a NUL octet\r\n");
}

TEST(BdatReceiver, SinkIsAbandonedOnceWhenTheMessageFails) {
  BdatSink sink;
  BdatReceiver r(100, false, 0, &sink);
  r.start_chunk(60, false);
  r.feed(std::string(58, 'x') + "\r\n");
  r.start_chunk(60, true);  // 120 > 100: failed at once
  EXPECT_EQ(sink.abandons, 1u);
  r.feed(std::string(60, 'y'));
  r.abandon();
  EXPECT_EQ(sink.abandons, 1u);
  EXPECT_EQ(r.error(), BdatErrorKind::kTooBig);
  EXPECT_NE(sink.why.find("size limit"), std::string::npos);
}

// A session whose driver streams: RSET between chunks, a refused chunk and
// a completed message each leave the sink in the right state.
struct SinkFactory : BodySinkFactory {
  std::vector<std::unique_ptr<BdatSink>> sinks;
  bool refuse = false;
  BodySink* open_body(const Envelope&) override {
    if (refuse) return nullptr;
    sinks.push_back(std::make_unique<BdatSink>());
    return sinks.back().get();
  }
};

TEST(ServerSessionBdat, StreamsIntoTheDriversSink) {
  SinkFactory f;
  SessionConfig c = test_config();
  c.body_sinks = &f;
  FakeDriver d(c);
  transaction(d);
  d.client("BDAT 3\r\nabcRSET\r\n");
  ASSERT_EQ(f.sinks.size(), 1u);
  EXPECT_EQ(f.sinks[0]->abandons, 1u);  // RSET: the partial files go
  d.client("MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\nBDAT 3\r\nxyz");
  d.client("BDAT 2 LAST\r\n\r\n");
  ASSERT_EQ(f.sinks.size(), 2u);
  EXPECT_EQ(f.sinks[1]->data, "xyz\r\n");
  EXPECT_EQ(f.sinks[1]->abandons, 0u);
  ASSERT_EQ(d.delivered().size(), 1u);
  EXPECT_TRUE(d.delivered()[0].streamed);
  EXPECT_EQ(d.delivered()[0].body, "");
  // No file can be opened: the chunk is read and refused, the session goes on.
  f.refuse = true;
  d.client("MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\nBDAT 4 LAST\r\nQUIT");
  EXPECT_NE(d.log().find("S: 451 4.3.0 "), std::string::npos) << d.log();
  EXPECT_FALSE(d.closed());
  EXPECT_EQ(d.delivered().size(), 1u);
}

// The error reported is the first rule broken by octet position, whatever
// the reads (found by fuzz_smtp_bdat: a NUL and a too-long line in one read).
TEST(BdatReceiver, FirstErrorByPositionAtAnyReadSize) {
  struct Case {
    std::string message;
    std::uint64_t max;
    BdatErrorKind error;
  } cases[] = {
      {std::string(990, 'x') + '\0' + std::string(20, 'y'), 1 << 20, BdatErrorKind::kNul},
      {std::string(1000, 'x') + '\0', 1 << 20, BdatErrorKind::kLineTooLong},
      // Bare LFs are stored as CRLF: the stored size outgrows the chunk.
      {std::string(20, '\n') + std::string("a\0", 2), 30, BdatErrorKind::kTooBig},
      {std::string("a\0", 2) + std::string(20, '\n'), 30, BdatErrorKind::kNul},
  };
  for (const auto& c : cases) {
    for (std::size_t read : {std::size_t{1}, std::size_t{7}, std::size_t{1} << 20}) {
      BdatReceiver r(c.max, false);
      r.start_chunk(c.message.size(), true);
      std::string_view rest = c.message;
      while (!rest.empty()) rest.remove_prefix(r.feed(rest.substr(0, read)));
      ASSERT_TRUE(r.chunk_complete());
      EXPECT_EQ(r.error(), c.error) << c.message.size() << " read " << read;
    }
  }
}

}  // namespace
}  // namespace tegami::smtp
