// DKIM canonicalisation (RFC 6376 §3.4) and the streaming message reader:
// the §3.4.5 examples, trailing empty lines and whitespace held back across
// every split, LF read as CRLF, bounded header block.
#include "mailauth/dkim_canon.hpp"

#include <gtest/gtest.h>

namespace tegami::mailauth {
namespace {

struct Split {
  std::vector<RawHeaderField> fields;
  std::string body;
  bool overflow = false;
};

// Reads `msg` in pieces of `piece` octets (0: whole).
Split read(std::string_view msg, std::size_t piece = 0) {
  Split s;
  MessageReader r([&](std::string_view b) { s.body.append(b); });
  if (piece == 0) piece = msg.size() + 1;
  for (std::size_t i = 0; i < msg.size(); i += piece) r.feed(msg.substr(i, piece));
  r.finish();
  s.fields = r.fields();
  s.overflow = r.header_overflow();
  return s;
}

std::string canon_body(DkimCanon c, std::string_view body, std::size_t piece = 0) {
  std::string out;
  BodyCanonicalizer b(c, [&](std::string_view s) { out.append(s); });
  if (piece == 0) piece = body.size() + 1;
  for (std::size_t i = 0; i < body.size(); i += piece) b.feed(body.substr(i, piece));
  b.finish();
  return out;
}

// RFC 6376 §3.4.5, the example message.
const char* kExample =
    "A: X\r\n"
    "B : Y\t\r\n"
    "\tZ  \r\n"
    "\r\n"
    " C \r\n"
    "D \t E\r\n"
    "\r\n"
    "\r\n";

TEST(DkimCanon, Rfc6376Section345Relaxed) {
  auto m = read(kExample);
  ASSERT_EQ(m.fields.size(), 2u);
  EXPECT_EQ(canon_header(DkimCanon::kRelaxed, m.fields[0]), "a:X\r\n");
  EXPECT_EQ(canon_header(DkimCanon::kRelaxed, m.fields[1]), "b:Y Z\r\n");
  EXPECT_EQ(canon_body(DkimCanon::kRelaxed, m.body), " C\r\nD E\r\n");
}

TEST(DkimCanon, Rfc6376Section345Simple) {
  auto m = read(kExample);
  ASSERT_EQ(m.fields.size(), 2u);
  EXPECT_EQ(canon_header(DkimCanon::kSimple, m.fields[0]), "A: X\r\n");
  EXPECT_EQ(canon_header(DkimCanon::kSimple, m.fields[1]), "B : Y\t\r\n\tZ  \r\n");
  EXPECT_EQ(canon_body(DkimCanon::kSimple, m.body), " C \r\nD \t E\r\n");
}

TEST(DkimCanon, EmptyBodies) {
  EXPECT_EQ(canon_body(DkimCanon::kSimple, ""), "\r\n");  // §3.4.3
  EXPECT_EQ(canon_body(DkimCanon::kRelaxed, ""), "");     // §3.4.4
  EXPECT_EQ(canon_body(DkimCanon::kSimple, "\r\n\r\n\r\n"), "\r\n");
  EXPECT_EQ(canon_body(DkimCanon::kRelaxed, "\r\n  \r\n\t\r\n"), "");
  EXPECT_EQ(canon_body(DkimCanon::kSimple, "  \r\n"), "  \r\n");  // not an empty line in simple
}

TEST(DkimCanon, UnterminatedLastLine) {
  EXPECT_EQ(canon_body(DkimCanon::kSimple, "abc"), "abc\r\n");
  EXPECT_EQ(canon_body(DkimCanon::kRelaxed, "abc  \t"), "abc\r\n");
  EXPECT_EQ(canon_body(DkimCanon::kRelaxed, "a\r\n\r\nb"), "a\r\n\r\nb\r\n");
}

TEST(DkimCanon, LfIsCrlfAndLoneCrIsContent) {
  EXPECT_EQ(canon_body(DkimCanon::kSimple, "a\nb\n\n\n"), "a\r\nb\r\n");
  EXPECT_EQ(canon_body(DkimCanon::kRelaxed, "a \n b\n"), "a\r\n b\r\n");
  EXPECT_EQ(canon_body(DkimCanon::kSimple, "a\rb\r\n"), "a\rb\r\n");
  EXPECT_EQ(canon_body(DkimCanon::kSimple, "a\r"), "a\r\r\n");
}

TEST(DkimCanon, EverySplitGivesTheSameBody) {
  const std::string body =
      " lead  and   inner\t\tspace \r\n\r\n\r\n  \r\nmid\r\n\t\r\nx\ry \n\nlast  \r\n\r\n \r\n";
  for (auto c : {DkimCanon::kSimple, DkimCanon::kRelaxed}) {
    std::string whole = canon_body(c, body);
    for (std::size_t p = 1; p <= body.size(); ++p) ASSERT_EQ(canon_body(c, body, p), whole) << p;
  }
}

TEST(DkimCanon, ManyEmptyLinesAreCountedNotStored) {
  // 1 MiB of empty lines then text: flushed in bounded pieces.
  std::string body(1 << 20, '\n');
  body += "x\r\n";
  std::size_t largest = 0, total = 0;
  BodyCanonicalizer b(DkimCanon::kRelaxed, [&](std::string_view s) {
    largest = std::max(largest, s.size());
    total += s.size();
  });
  b.feed(body);
  b.finish();
  EXPECT_EQ(total, (1u << 21) + 3);
  EXPECT_LE(largest, BodyCanonicalizer::kFlushAt + 2);
}

TEST(DkimReader, SplitsHeaderAndBodyAtEveryBoundary) {
  const std::string msg = std::string(kExample) + "tail";
  auto whole = read(msg);
  for (std::size_t p = 1; p <= msg.size(); ++p) {
    auto s = read(msg, p);
    ASSERT_EQ(s.fields.size(), whole.fields.size()) << p;
    for (std::size_t i = 0; i < s.fields.size(); ++i)
      ASSERT_EQ(s.fields[i].raw, whole.fields[i].raw);
    ASSERT_EQ(s.body, whole.body) << p;
  }
}

TEST(DkimReader, LfHeaderBecomesCrlf) {
  auto s = read("Subject: a\n b\nFrom: x\n\nbody\n");
  ASSERT_EQ(s.fields.size(), 2u);
  EXPECT_EQ(s.fields[0].raw, "Subject: a\r\n b\r\n");
  EXPECT_EQ(s.fields[0].value(), " a\r\n b");
  EXPECT_EQ(s.fields[1].name, "From");
  EXPECT_EQ(s.body, "body\n");
}

TEST(DkimReader, NoBodyAndNoHeader) {
  auto a = read("From: x\r\nTo: y");
  ASSERT_EQ(a.fields.size(), 2u);
  EXPECT_EQ(a.fields[1].raw, "To: y\r\n");
  EXPECT_TRUE(a.body.empty());
  auto b = read("\r\nonly body\r\n");
  EXPECT_TRUE(b.fields.empty());
  EXPECT_EQ(b.body, "only body\r\n");
}

TEST(DkimReader, HugeHeaderOverflowsBounded) {
  std::string msg =
      "X-Big: " + std::string(MessageReader::kMaxHeaderBlock + 10, 'a') + "\r\n\r\nbody";
  auto s = read(msg, 4096);
  EXPECT_TRUE(s.overflow);
  EXPECT_TRUE(s.fields.empty());
  EXPECT_EQ(s.body, "body");
}

TEST(DkimCanon, SelectedHeadersBottomUpAndOversigned) {
  auto m = read("From: a\r\nSubject: one\r\nSubject: two\r\n\r\n");
  std::vector<std::string> h = {"subject", "subject", "subject", "from", "from"};
  EXPECT_EQ(canon_selected_headers(DkimCanon::kRelaxed, m.fields, h),
            "subject:two\r\nsubject:one\r\nfrom:a\r\n");
}

TEST(DkimCanon, SignatureFieldLosesBValueOnly) {
  RawHeaderField f{"DKIM-Signature", "DKIM-Signature: v=1; bh=abc;\r\n b=de\r\n f==; d=x\r\n"};
  EXPECT_EQ(canon_signature_field(DkimCanon::kRelaxed, f), "dkim-signature:v=1; bh=abc; b=; d=x");
  EXPECT_EQ(canon_signature_field(DkimCanon::kSimple, f),
            "DKIM-Signature: v=1; bh=abc;\r\n b=; d=x");
}

}  // namespace
}  // namespace tegami::mailauth
