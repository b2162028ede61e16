// RFC 2047 decoding table, including ISO-2022-JP (also ESC ( J), CP932,
// EUC-JP, GB2312, Big5, ISO-8859-x, B and Q, and joined adjacent words.
#include "mail/rfc2047.hpp"

#include <gtest/gtest.h>

#include <string>

#include "mail/charset.hpp"

namespace tegami::mail {
namespace {

struct Case {
  const char* in;
  const char* out;
};

const Case kCases[] = {
    {"plain text", "plain text"},
    {"=?UTF-8?B?44GT44KT44Gr44Gh44Gv?=", "こんにちは"},
    {"=?utf-8?q?caf=C3=A9_au_lait?=", "café au lait"},
    {"=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"},
    {"=?iso-8859-15?q?=A4uro?=", "€uro"},
    {"=?ISO-8859-2?Q?Pr=F3ba_=B1=E6?=", "Próba ąć"},
    // ISO-2022-JP: "こんにちは" and with ESC ( J (JIS X 0201 Roman) in the middle.
    {"=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは"},
    {"=?iso-2022-jp?B?GyRCJDMkcxsoSmFiYxsoQg==?=", "こんabc"},
    // NEC row 13 (circled one) that glibc's ISO-2022-JP rejects.
    {"=?ISO-2022-JP?B?GyRCLSEbKEI=?=", "①"},
    // Shift_JIS decoded as CP932 (incl. the wave dash / NEC extensions).
    {"=?Shift_JIS?B?grGC8YLJgr+CzQ==?=", "こんにちは"},
    {"=?shift_jis?B?h0A=?=", "①"},
    {"=?EUC-JP?B?pLOk86TLpMGkzw==?=", "こんにちは"},
    {"=?GB2312?B?xOO6ww==?=", "你好"},
    {"=?gbk?B?xOO6ww==?=", "你好"},
    {"=?Big5?B?p0Gmbg==?=", "你好"},
    {"=?windows-1252?Q?=93quoted=94?=", "“quoted”"},
    {"=?KOI8-R?B?8NLJ18XU?=", "Привет"},
    // Adjacent words: whitespace between them disappears (RFC 2047 6.2).
    {"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"},
    {"=?UTF-8?Q?a?=\t  =?UTF-8?Q?b?=", "ab"},
    {"=?UTF-8?Q?a?= b =?UTF-8?Q?c?=", "a b c"},
    // A UTF-8 character split across two words decodes whole.
    {"=?UTF-8?B?44GT44KT?= =?UTF-8?B?44Gr44Gh44Gv?=", "こんにちは"},
    {"=?UTF-8?Q?=E3=81?= =?UTF-8?Q?=93?=", "こ"},
    // RFC 2231 language suffix, missing padding, lower-case encoding letter.
    {"=?UTF-8*ja?b?44GT44KT44Gr44Gh44Gv?=", "こんにちは"},
    {"=?UTF-8?B?44GT44KT44Gr44Gh44Gv?= (comment)", "こんにちは (comment)"},
    {"=?utf-8?b?Y2Fm?=", "caf"},
    // Unknown charset: left as written; broken words: left as written.
    {"=?x-unknown-cs?Q?abc?=", "=?x-unknown-cs?Q?abc?="},
    {"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="},
    {"=?UTF-8?Q?abc", "=?UTF-8?Q?abc"},
    {"=??Q?abc?=", "=??Q?abc?="},
    // Raw 8-bit: valid UTF-8 stays, invalid bytes become U+FFFD, raw JIS decodes.
    {"caf\xC3\xA9", "café"},
    {"caf\xE9", "caf\xEF\xBF\xBD"},
    {"\x1B$B$3$s\x1B(B", "こん"},
};

TEST(Rfc2047, Table) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.in);
    EXPECT_EQ(decode_rfc2047(c.in), c.out);
  }
}

TEST(Rfc2047, OutputIsAlwaysUtf8) {
  const char* nasty[] = {"=?UTF-8?B?/w==?=",
                         "=?ISO-2022-JP?B?GyRC?=",
                         "=?Shift_JIS?B?gg==?=",
                         "=?EUC-JP?Q?=FF=FF?=",
                         "\xFF\xFE",
                         "=?ISO-2022-JP?Q?=1B$(D=30=30?=",
                         "=?UTF-16?B?2D3eAA==?="};
  for (const char* in : nasty) {
    SCOPED_TRACE(in);
    EXPECT_TRUE(is_valid_utf8(decode_rfc2047(in)));
  }
}

TEST(Rfc2047, SplitInputNeverCrashes) {
  std::string s = "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?= =?UTF-8?Q?caf=C3=A9?= x";
  for (std::size_t i = 0; i <= s.size(); ++i) {
    EXPECT_TRUE(is_valid_utf8(decode_rfc2047(s.substr(0, i))));
    EXPECT_TRUE(is_valid_utf8(decode_rfc2047(s.substr(i))));
  }
}

TEST(Rfc2047, TransferEncodings) {
  EXPECT_EQ(decode_base64_lenient("aGVsbG8"), "hello");
  EXPECT_EQ(decode_base64_lenient("aGVs\nbG8="), "hello");
  EXPECT_EQ(decode_q("a_b=3Dc=ZZ="), "a b=c=ZZ=");
}

}  // namespace
}  // namespace tegami::mail
