#include "policy/relay_policy.hpp"

#include <gtest/gtest.h>

namespace tegami::policy {
namespace {

mail::Address rcpt(const std::string& path) {
  auto a = mail::parse_path(path, mail::PathKind::kForward);
  EXPECT_TRUE(a) << path;
  return *a;
}

Resolution not_local() {
  return Resolution{};
}
Resolution local() {
  Resolution r;
  r.kind = Resolution::Kind::Local;
  r.mailboxes = {MailboxRef{"example.test", "alice"}};
  return r;
}
Resolution unknown() {
  Resolution r;
  r.kind = Resolution::Kind::Unknown;
  return r;
}

TEST(RelayPolicy, Table) {
  const ClientInfo stranger{"192.0.2.7", false, false, false};
  const ClientInfo trusted{"127.0.0.1", true, false, false};
  const ClientInfo authed{"192.0.2.7", false, true, false};
  const ClientInfo granted{"192.0.2.7", false, false, true};
  struct Case {
    const char* name;
    std::string path;
    Resolution res;
    ClientInfo client;
    RcptVerdict::Kind kind;
    std::string reply_prefix;
  } cases[] = {
      {"local for anyone", "<alice@example.test>", local(), stranger, RcptVerdict::Kind::Local,
       "250 2.1.5"},
      {"unknown local", "<nobody@example.test>", unknown(), trusted, RcptVerdict::Kind::Refuse,
       "550 5.1.1"},
      {"remote from a stranger", "<bob@dest.test>", not_local(), stranger,
       RcptVerdict::Kind::Refuse, "554 5.7.1 <bob@dest.test>: Relay access denied"},
      {"remote from a trusted network", "<bob@dest.test>", not_local(), trusted,
       RcptVerdict::Kind::Relay, "250 2.1.5"},
      {"remote after AUTH", "<bob@dest.test>", not_local(), authed, RcptVerdict::Kind::Relay,
       "250 2.1.5"},
      {"remote with a POP grant", "<bob@dest.test>", not_local(), granted, RcptVerdict::Kind::Relay,
       "250 2.1.5"},
      // Relay tricks stay refused even for trusted clients (CHECKLIST "Open relay").
      {"percent hack, trusted", "<bob%dest.test@example.test>", local(), trusted,
       RcptVerdict::Kind::Refuse, "554 5.7.1"},
      {"bang path, trusted", "<dest.test!bob@example.test>", local(), trusted,
       RcptVerdict::Kind::Refuse, "554 5.7.1"},
      {"source route, trusted", "<@example.test:bob@dest.test>", not_local(), trusted,
       RcptVerdict::Kind::Refuse, "554 5.7.1"},
      {"address literal, trusted", "<bob@[192.0.2.1]>", not_local(), trusted,
       RcptVerdict::Kind::Refuse, "554 5.7.1"},
      {"quoted at, trusted", "<\"bob@dest.test\"@example.test>", local(), trusted,
       RcptVerdict::Kind::Refuse, "554 5.7.1"},
  };
  for (const auto& c : cases) {
    auto v = decide_rcpt(rcpt(c.path), c.res, c.client);
    EXPECT_EQ(v.kind, c.kind) << c.name;
    EXPECT_EQ(v.reply.rfind(c.reply_prefix, 0), 0u) << c.name << ": " << v.reply;
  }
}

TEST(RelayPolicy, MayRelay) {
  EXPECT_FALSE(may_relay(ClientInfo{"1.2.3.4", false, false, false}));
  EXPECT_TRUE(may_relay(ClientInfo{"1.2.3.4", true, false, false}));
  EXPECT_TRUE(may_relay(ClientInfo{"1.2.3.4", false, true, false}));
  EXPECT_TRUE(may_relay(ClientInfo{"1.2.3.4", false, false, true}));
}

}  // namespace
}  // namespace tegami::policy
