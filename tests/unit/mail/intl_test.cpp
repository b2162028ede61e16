#include "mail/intl.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tegami::mail {
namespace {

TEST(Intl, Utf8Validity) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8("j\xc3\xb6rg \xe4\xbe\x8b \xf0\x9f\x93\xae"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong, three octets
  EXPECT_FALSE(valid_utf8("\x80"));              // lone continuation
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(valid_utf8("\xe3\x81"));          // truncated
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_TRUE(printable_utf8("j\xc3\xb6rg"));
  EXPECT_FALSE(printable_utf8("a\xc2\x85"));  // C1 NEL
  EXPECT_FALSE(printable_utf8("a\x7f"));
  EXPECT_FALSE(printable_utf8(std::string("a\0b", 3)));
  EXPECT_FALSE(printable_utf8("a\r\nb"));
}

TEST(Intl, Nfc) {
  auto n = nfc("caf\x65\xcc\x81");  // e + COMBINING ACUTE
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, "caf\xc3\xa9");
  EXPECT_EQ(*nfc("ascii"), "ascii");
  EXPECT_FALSE(nfc("\xc0\xaf"));
  EXPECT_EQ(local_key("J\xc3\xb6RG"), "j\xc3\xb6rg");  // ASCII folded, U+00F6 kept
  EXPECT_EQ(local_key("Caf\x65\xcc\x81"), "caf\xc3\xa9");
}

TEST(Intl, DomainToAscii) {
  // RFC 5890 §2.3.2.1: the U-label and A-label forms are one domain.
  auto u = domain_to_ascii("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(*u, "xn--r8jz45g.xn--zckzah");
  EXPECT_EQ(*domain_to_ascii("XN--R8JZ45G.xn--zckzah"), "xn--r8jz45g.xn--zckzah");
  EXPECT_EQ(*domain_to_ascii("Example.TEST"), "example.test");
  EXPECT_EQ(*domain_to_ascii("B\xc3\xbc"
                             "cher.example"),
            "xn--bcher-kva.example");
  // NFC before conversion (RFC 5891 §5.2): decomposed and composed agree.
  EXPECT_EQ(*domain_to_ascii("cafe\xcc\x81.test"), *domain_to_ascii("caf\xc3\xa9.test"));
  EXPECT_FALSE(domain_to_ascii("xn--zz.test"));  // invalid punycode
  EXPECT_FALSE(
      domain_to_ascii("bad\xe2\x80\x8b"
                      "domain.test"));                 // U+200B disallowed
  EXPECT_FALSE(domain_to_ascii("M\xc3\x9cNCHEN.de"));  // upper-case U+00DC
  EXPECT_FALSE(domain_to_ascii("a\xc0\xaf.test"));     // malformed UTF-8
  EXPECT_EQ(domain_to_unicode("xn--r8jz45g.xn--zckzah"),
            "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88");
  EXPECT_EQ(domain_to_unicode("example.test"), "example.test");
}

}  // namespace
}  // namespace tegami::mail
