// MAIL's SIZE= reaches the driver with CheckSender (issue 15: the free
// storage check, RFC 1870 §6.2), and a 452 4.3.1 verdict is answered as is.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "proto/smtp/server_session.hpp"

namespace tegami::smtp {
namespace {

std::string replies(const Actions& actions) {
  std::string out;
  for (const auto& a : actions)
    if (const auto* r = std::get_if<Reply>(&a)) out += r->text;
  return out;
}

std::unique_ptr<ServerSession> greeted() {
  SessionConfig c;
  c.hostname = "mx.example.test";
  c.max_message_size = 1000000;
  auto s = std::make_unique<ServerSession>(c);
  s->step(Connected{});
  s->step(Input{"EHLO c.example\r\n"});
  return s;
}

TEST(MailSize, DeclaredSizeReachesTheSenderCheck) {
  auto session = greeted();
  ServerSession& s = *session;
  Actions a = s.step(Input{"MAIL FROM:<a@example.net> SIZE=123456\r\n"});
  ASSERT_FALSE(a.empty());
  const auto* check = std::get_if<CheckSender>(&a.back());
  ASSERT_NE(check, nullptr);
  EXPECT_EQ(check->declared_size, std::optional<std::uint64_t>(123456));

  a = s.step(SenderChecked{false, "452 4.3.1 Insufficient system storage"});
  EXPECT_EQ(replies(a), "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_EQ(s.state(), State::kReady);

  a = s.step(Input{"MAIL FROM:<a@example.net>\r\n"});
  check = std::get_if<CheckSender>(&a.back());
  ASSERT_NE(check, nullptr);
  EXPECT_FALSE(check->declared_size);
}

TEST(MailSize, OverTheLimitIsRefusedBeforeAnySenderCheck) {
  auto session = greeted();
  ServerSession& s = *session;
  Actions a = s.step(Input{"MAIL FROM:<a@example.net> SIZE=1000001\r\n"});
  EXPECT_EQ(replies(a).substr(0, 10), "552 5.3.4 ");
  for (const auto& act : a) EXPECT_FALSE(std::holds_alternative<CheckSender>(act));
}

}  // namespace
}  // namespace tegami::smtp
