// Helpers for the DKIM tests: the RFC 8463 Appendix A example (keys,
// records, signed message) and a verifier run over an in-memory DNS.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "dkim/dkim_verifier.hpp"

namespace tegami::dkim::test {

// RFC 8463 Appendix A.2 (the records' strings as published).
inline const char* kRfc8463EdRecord =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
inline const std::vector<std::string> kRfc8463RsaRecord = {
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR",
    "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC",
    "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3",
    "Ip3G+2kryOTIKT+l/K4w3QIDAQAB"};
// RFC 8463 Appendix A.1: the Ed25519 secret key (RFC 8032 §7.1 test 1) as PKCS #8.
inline const char* kRfc8463EdPrivatePem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
inline constexpr std::int64_t kRfc8463Time = 1528637909;

// RFC 8463 Appendix A.3, CRLF line ends.
inline const char* kRfc8463Message =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

// name -> answer. A name missing from the zone is NXDOMAIN.
struct Zone {
  std::map<std::string, mailauth::DnsAnswer> answers;
  void txt(const std::string& name, std::vector<std::string> strings) {
    auto& a = answers[name];
    a.rcode = mailauth::DnsRcode::kOk;
    a.txt.push_back(std::move(strings));
  }
  void txt(const std::string& name, const std::string& record) {
    txt(name, std::vector<std::string>{record});
  }
  void rcode(const std::string& name, mailauth::DnsRcode r) { answers[name].rcode = r; }
};

inline Zone rfc8463_zone() {
  Zone z;
  z.txt("brisbane._domainkey.football.example.com", std::string(kRfc8463EdRecord));
  z.txt("test._domainkey.football.example.com", kRfc8463RsaRecord);
  return z;
}

// Feeds `message` in pieces of `piece` octets (0: whole), answers the key
// questions from `zone` once the header is done, returns the outcomes.
inline std::vector<mailauth::DkimOutcome> run_verifier(const std::string& message, const Zone& zone,
                                                       std::int64_t now, std::size_t piece = 0,
                                                       DkimVerifier** keep = nullptr) {
  static thread_local std::unique_ptr<DkimVerifier> last;
  last = std::make_unique<DkimVerifier>(DkimVerifyOptions{.now = now});
  DkimVerifier& v = *last;
  bool asked = false;
  auto ask = [&] {
    if (asked || !v.header_done()) return;
    asked = true;
    for (const auto& name : v.key_queries()) {
      auto it = zone.answers.find(name);
      mailauth::DnsAnswer a;
      a.rcode = mailauth::DnsRcode::kNotFound;
      v.feed_key(name, it == zone.answers.end() ? a : it->second);
    }
  };
  if (piece == 0) piece = message.size() + 1;
  for (std::size_t i = 0; i < message.size(); i += piece) {
    v.feed(std::string_view(message).substr(i, piece));
    ask();
  }
  v.finish();
  ask();
  if (keep) *keep = &v;
  return v.results();
}

inline std::string to_lf(std::string s) {
  std::string out;
  for (char c : s)
    if (c != '\r') out.push_back(c);
  return out;
}

}  // namespace tegami::dkim::test
