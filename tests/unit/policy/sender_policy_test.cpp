// SenderPolicy (issue 7): the MAIL FROM decision table, and the CHECKLIST's
// open-relay vectors against the whole recipient decision for a client that
// is not authorised.
#include "policy/sender_policy.hpp"

#include <gtest/gtest.h>

namespace tegami::policy {
namespace {

mail::Address path(const std::string& text, mail::PathKind kind = mail::PathKind::kReverse) {
  auto a = mail::parse_path(text, kind);
  EXPECT_TRUE(a) << text;
  return a ? *a : mail::Address{};
}

struct Row {
  const char* name;
  std::string sender;
  SenderFacts facts;
  bool accepted;
  std::string reply_prefix;
  bool may_relay;           // when accepted
  std::string login;        // login_account when accepted
  std::string relay_reply;  // prefix of the refusal of a relayed recipient, when !may_relay
};

SenderFacts facts(bool submission, bool trusted, std::string auth, std::string grant, bool local,
                  bool owned_auth, bool owned_grant, bool match = true) {
  SenderFacts f;
  f.ip = "192.0.2.7";
  f.submission = submission;
  f.trusted_network = trusted;
  f.auth_account = std::move(auth);
  f.grant_account = std::move(grant);
  f.sender_local = local;
  f.owned_by_auth = owned_auth;
  f.owned_by_grant = owned_grant;
  f.login_match = match;
  return f;
}

constexpr const char* kAlice = "alice@example.test";

TEST(SenderPolicy, Table) {
  const Row rows[] = {
      // [smtp]
      {"stranger, foreign sender", "<x@example.net>",
       facts(false, false, "", "", false, false, false), true, "250 2.1.0", false, "", "554 5.7.1"},
      {"stranger, local sender: spoofing", "<bob@example.test>",
       facts(false, false, "", "", true, false, false), false, "550 5.7.1 <bob@example.test>",
       false, "", ""},
      {"stranger, null sender (bounces come from anywhere)", "<>",
       facts(false, false, "", "", false, false, false), true, "250", false, "", "554 5.7.1"},
      {"trusted network, any sender", "<bob@example.test>",
       facts(false, true, "", "", true, false, false), true, "250", true, "", ""},
      {"grant, own address", "<alice@example.test>",
       facts(false, false, "", kAlice, true, false, true), true, "250", true, kAlice, ""},
      {"grant, someone else's local address", "<bob@example.test>",
       facts(false, false, "", kAlice, true, false, false), false,
       "553 5.7.1 <bob@example.test>: Sender address not owned by you", false, "", ""},
      {"grant, foreign address: inbound only", "<x@example.net>",
       facts(false, false, "", kAlice, false, false, false), true, "250", false, "",
       "553 5.7.1 <x@example.net>: Sender address not owned by you"},
      {"grant, match off", "<x@example.net>",
       facts(false, false, "", kAlice, false, false, false, false), true, "250", true, "", ""},
      // Issue 12: a bounce from a granted NAT is inbound mail: no grant, no From check.
      {"grant, null sender: inbound, never relays on the grant", "<>",
       facts(false, false, "", kAlice, false, false, false), true, "250", false, "", "554 5.7.1"},
      // [submission]
      {"submission, nothing", "<x@example.net>", facts(true, false, "", "", false, false, false),
       false, "530 5.7.0 Authentication required", false, "", ""},
      {"submission, trusted network alone is not enough", "<alice@example.test>",
       facts(true, true, "", "", true, false, false), false, "530 5.7.0", false, "", ""},
      {"submission, AUTH, own address", "<alice@example.test>",
       facts(true, false, kAlice, "", true, true, false), true, "250", true, kAlice, ""},
      {"submission, AUTH, alias", "<sales@example.test>",
       facts(true, false, kAlice, "", true, true, false), true, "250", true, kAlice, ""},
      {"submission, AUTH, not owned", "<bob@example.test>",
       facts(true, false, kAlice, "", true, false, false), false,
       "553 5.7.1 <bob@example.test>: Sender address not owned by you", false, "", ""},
      {"submission, AUTH, foreign not owned", "<x@example.net>",
       facts(true, false, kAlice, "", false, false, false), false, "553 5.7.1", false, "", ""},
      {"submission, AUTH, match off", "<bob@example.test>",
       facts(true, false, kAlice, "", true, false, false, false), true, "250", true, "", ""},
      {"submission, AUTH, null sender", "<>", facts(true, false, kAlice, "", false, false, false),
       true, "250", true, kAlice, ""},
      {"submission, grant, own address", "<alice@example.test>",
       facts(true, false, "", kAlice, true, false, true), true, "250", true, kAlice, ""},
      {"submission, grant, not owned", "<bob@example.test>",
       facts(true, false, "", kAlice, true, false, false), false, "553 5.7.1", false, "", ""},
      // AUTH wins over the trusted network: its account is checked.
      {"smtp, AUTH from a trusted network, not owned", "<bob@example.test>",
       facts(false, true, kAlice, "", true, false, false), false, "553 5.7.1", false, "", ""},
  };
  for (const auto& r : rows) {
    auto v = decide_sender(path(r.sender), r.facts);
    EXPECT_EQ(v.accepted, r.accepted) << r.name << ": " << v.reply;
    EXPECT_EQ(v.reply.rfind(r.reply_prefix, 0), 0u) << r.name << ": " << v.reply;
    if (!v.accepted) continue;
    EXPECT_EQ(may_relay(v.client), r.may_relay) << r.name;
    EXPECT_EQ(v.login_account, r.login) << r.name;
    // On [smtp] the grant is for relaying only: the header From: is checked
    // only for a relayed message; submission checks every message.
    const bool smtp_grant = !r.facts.submission && r.facts.auth_account.empty() &&
                            !r.facts.grant_account.empty() && !v.login_account.empty();
    EXPECT_EQ(v.login_check_relay_only, smtp_grant) << r.name;
    auto rv =
        decide_rcpt(path("<bob@dest.test>", mail::PathKind::kForward), Resolution{}, v.client);
    if (r.may_relay) {
      EXPECT_EQ(rv.kind, RcptVerdict::Kind::Relay) << r.name;
    } else {
      EXPECT_EQ(rv.kind, RcptVerdict::Kind::Refuse) << r.name;
      EXPECT_EQ(rv.reply.rfind(r.relay_reply, 0), 0u) << r.name << ": " << rv.reply;
    }
  }
}

TEST(SenderPolicy, Owns) {
  Resolution alias_to_alice{Resolution::Kind::Local, {MailboxRef{"example.test", "alice"}}};
  Resolution list{Resolution::Kind::Local,
                  {MailboxRef{"example.test", "bob"}, MailboxRef{"example.test", "alice"}}};
  Resolution bob{Resolution::Kind::Local, {MailboxRef{"example.test", "bob"}}};
  EXPECT_TRUE(owns(kAlice, kAlice, Resolution{}));
  EXPECT_TRUE(owns(kAlice, "sales@example.test", alias_to_alice));
  EXPECT_TRUE(owns(kAlice, "team@example.test", list));
  EXPECT_FALSE(owns(kAlice, "bob@example.test", bob));
  EXPECT_FALSE(owns(kAlice, "x@example.net", Resolution{}));
  EXPECT_FALSE(owns("", "x@example.net", Resolution{}));
  EXPECT_FALSE(owns(kAlice, "", Resolution{}));
  Resolution unknown{Resolution::Kind::Unknown, {}};
  EXPECT_FALSE(owns(kAlice, "ghost@example.test", unknown));
}

// CHECKLIST "Open relay": every vector, with every MAIL FROM it lists, is
// refused for a client that is not authorised. srv is our own domain
// (example.test), domain the relay target (dest.test), ip 192.0.2.1. What
// the directory would say: our domain's addresses resolve locally (a
// catch-all at worst), everything else is not local.
TEST(SenderPolicy, OpenRelayVectorsAreRefused) {
  const std::string vectors[] = {
      "relaytest%dest.test@[192.0.2.1]",
      "relaytest%dest.test@example.test",
      "\"relaytest@dest.test\"",
      "\"relaytest%dest.test\"",
      "\"relaytest@dest.test\"@[192.0.2.1]",
      "relaytest@dest.test@[192.0.2.1]",
      "relaytest@dest.test@example.test",
      "@[192.0.2.1]:relaytest@dest.test",
      "@example.test:relaytest@dest.test",
      "dest.test!relaytest",
      "dest.test!relaytest@[192.0.2.1]",
      "dest.test!relaytest@example.test",
      "relaytest@dest.test",
      "relaytest@DEST.TEST",
      "relaytest@dest.test.",
      "relaytest@Dest.Test.",
      "\"relaytest@dest.test\"@example.test",
      "relaytest%dest.test@EXAMPLE.TEST.",
      "relaytest@[IPv6:2001:db8::1]",
      "relaytest@192.0.2.1",
  };
  const std::string senders[] = {"<>", "<someone@example.net>", "<x@example.test>",
                                 "<x@[192.0.2.1]>"};
  std::size_t decided = 0;
  for (const auto& sender_text : senders) {
    auto sender = mail::parse_path(sender_text, mail::PathKind::kReverse);
    for (bool submission : {false, true}) {
      SenderFacts f;
      f.ip = "198.51.100.9";
      f.submission = submission;
      f.sender_local = sender && sender->domain == "example.test";
      SenderVerdict sv = sender ? decide_sender(*sender, f) : SenderVerdict{};
      if (!sv.accepted) {
        // Refused at MAIL already (530 on submission, 550 for a local sender).
        EXPECT_EQ(sv.reply.front(), '5') << sender_text << " " << sv.reply;
        continue;
      }
      for (const auto& v : vectors) {
        auto rcpt = mail::parse_path("<" + v + ">", mail::PathKind::kForward);
        if (!rcpt) continue;  // a syntax error (501) never relays either
        Resolution res;
        if (rcpt->domain == "example.test") {
          res.kind = Resolution::Kind::Local;
          res.mailboxes = {MailboxRef{"example.test", "catchall"}};
        }
        auto verdict = decide_rcpt(*rcpt, res, sv.client);
        ++decided;
        EXPECT_EQ(verdict.kind, RcptVerdict::Kind::Refuse)
            << "MAIL FROM:" << sender_text << " RCPT TO:<" << v << "> -> " << verdict.reply;
        EXPECT_EQ(verdict.reply.rfind("554 5.7.1", 0), 0u) << v << ": " << verdict.reply;
      }
    }
  }
  // Most vectors parse (the rest are 501 syntax errors): the table is not vacuous.
  EXPECT_GE(decided, 3u * 14u);
}

}  // namespace
}  // namespace tegami::policy
