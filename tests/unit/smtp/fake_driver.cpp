#include "fake_driver.hpp"

#include <gtest/gtest.h>

#include "mail/address.hpp"
#include "proto/smtp/reply.hpp"

namespace tegami::smtp::testing {

namespace {

// Every reply must be whole lines "DDD[ -]text\r\n" without a bare CR or LF.
void check_reply_syntax(std::string_view text) {
  ASSERT_FALSE(text.empty());
  ASSERT_TRUE(text.ends_with("\r\n")) << text;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find("\r\n", start);
    ASSERT_NE(end, std::string_view::npos);
    std::string_view line = text.substr(start, end - start);
    EXPECT_GE(line.size(), 4u) << line;
    EXPECT_TRUE(line[3] == ' ' || line[3] == '-') << line;
    EXPECT_EQ(line.find_first_of("\r\n"), std::string_view::npos) << line;
    EXPECT_LE(line.size() + 2, kMaxReplyLine) << line;
    start = end + 2;
  }
}

}  // namespace

RecipientChecked fake_verdict(const CheckRecipient& check) {
  const mail::Address& a = check.recipient;
  RecipientChecked v;
  std::string path = a.to_path();
  if (mail::is_relay_hack(a)) {
    v.reply = "554 5.7.1 " + path + ": Relay access denied";
    return v;
  }
  if (a.domain.empty() && a.local_lower == "postmaster") {
    v.accepted = true;
    v.reply = "250 2.1.5 Ok";
    v.resolved = {Destination::mailbox("example.test", "alice")};
    return v;
  }
  if (!mail::domain_equal(a.domain, "example.test")) {
    v.reply = "554 5.7.1 " + path + ": Relay access denied";
    return v;
  }
  if (a.local_lower == "alice" || a.local_lower == "bob" || a.local_lower == "postmaster") {
    v.accepted = true;
    v.reply = "250 2.1.5 Ok";
    v.resolved = {Destination::mailbox("example.test", a.local_lower == "bob" ? "bob" : "alice")};
    return v;
  }
  v.reply = "550 5.1.1 " + path + ": Recipient address rejected: User unknown";
  return v;
}

SenderChecked fake_sender_verdict(const CheckSender& check, bool submission) {
  SenderChecked v;
  const mail::Address& s = check.sender;
  const std::string path = s.to_path();
  if (submission && check.auth_account.empty()) {
    v.reply = "530 5.7.0 Authentication required";
  } else if (!check.auth_account.empty() && !s.null_path &&
             s.local_lower + "@" + s.domain != check.auth_account) {
    v.reply = "553 5.7.1 " + path + ": Sender address not owned by you";
  } else if (check.auth_account.empty() && s.local_lower == "forged" &&
             mail::domain_equal(s.domain, "example.test")) {
    v.reply = "550 5.7.1 " + path + ": Sender address rejected";
  } else {
    v.accepted = true;
    v.reply = "250 2.1.0 Ok";
  }
  return v;
}

AuthChecked fake_auth(const VerifyAuth& verify) {
  AuthChecked a;
  using O = AuthChecked::Outcome;
  if (verify.password == "temp") {
    a.outcome = O::kTempFailure;
  } else if (verify.password == "lockout") {
    a.outcome = O::kTooManyFailures;
  } else if (verify.authcid == "alice@example.test" && verify.password == "secret" &&
             (verify.authzid.empty() || verify.authzid == verify.authcid)) {
    a.outcome = O::kOk;
    a.account = "alice@example.test";
  } else {
    a.outcome = O::kBadCredentials;
  }
  return a;
}

AuthChecked fake_scram_first(const ScramFirst& first, std::string& user, std::string& nonce) {
  AuthChecked a;
  using O = AuthChecked::Outcome;
  user.clear();
  nonce.clear();
  std::string_view m = first.client_first;
  if (!m.starts_with("n,,n=") && !m.starts_with("y,,n=")) return a;
  m.remove_prefix(5);
  auto comma = m.find(",r=");
  if (comma == std::string_view::npos || comma == 0) return a;
  user = std::string(m.substr(0, comma));
  if (user == "temp") {
    a.outcome = O::kTempFailure;
    return a;
  }
  nonce = std::string(m.substr(comma + 3)) + "srv";
  a.outcome = O::kContinue;
  a.challenge = "r=" + nonce + ",s=c2FsdA==,i=4096";
  return a;
}

AuthChecked fake_scram_final(const ScramFinal& final_msg, const std::string& user,
                             const std::string& nonce) {
  AuthChecked a;
  using O = AuthChecked::Outcome;
  const std::string& m = final_msg.client_final;
  if (m.ends_with(",p=lockout")) {
    a.outcome = O::kTooManyFailures;
  } else if (!nonce.empty() && user == "alice@example.test" &&
             m == "c=biws,r=" + nonce + ",p=good") {
    a.outcome = O::kContinue;
    a.challenge = "v=c2lnbmF0dXJl";
    a.account = "alice@example.test";
  }
  return a;
}

DeliveryDone fake_delivery(const Envelope& envelope, int& counter) {
  if (envelope.body.find("X-Test-Fail: temp") != std::string::npos) {
    return DeliveryDone{fail(Error::temp("storage failure, try again later", 451, "4.3.0"))};
  }
  if (envelope.body.find("X-Test-Fail: perm") != std::string::npos) {
    return DeliveryDone{fail(Error::perm("message content rejected", 554, "5.7.1"))};
  }
  return DeliveryDone{std::string("Q") + std::to_string(++counter)};
}

void FakeDriver::connect(std::string_view pregreet) {
  if (!pregreet.empty()) note("E: pregreet");
  perform(session_.step(Connected{pregreet}));
}

void FakeDriver::client(std::string_view bytes, bool bytewise) {
  if (closed_) return;
  if (!bytewise) {
    EXPECT_TRUE(session_.wants_input());
    perform(session_.step(Input{bytes}));
    return;
  }
  for (std::size_t i = 0; i < bytes.size() && !closed_; ++i) {
    EXPECT_TRUE(session_.wants_input());
    perform(session_.step(Input{bytes.substr(i, 1)}));
  }
}

void FakeDriver::event(const Event& e) {
  if (closed_) return;
  perform(session_.step(e));
  if (std::holds_alternative<PeerClosed>(e)) {
    EXPECT_EQ(session_.state(), State::kClosed);
    closed_ = true;
  }
}

void FakeDriver::perform(const Actions& actions) {
  for (std::size_t i = 0; i + 1 < actions.size(); ++i) {
    EXPECT_TRUE(std::holds_alternative<Reply>(actions[i]) ||
                std::holds_alternative<Delay>(actions[i]))
        << "CheckSender, CheckRecipient, VerifyAuth, ScramFirst, ScramFinal, Deliver, StartTls "
           "and Close must be the last action";
  }
  for (const auto& action : actions) {
    EXPECT_FALSE(closed_) << "action after Close";
    if (const auto* r = std::get_if<Reply>(&action)) {
      check_reply_syntax(r->text);
      std::size_t start = 0;
      while (start < r->text.size()) {
        std::size_t end = r->text.find("\r\n", start);
        if (end == std::string::npos) end = r->text.size();
        note("S: " + r->text.substr(start, end - start));
        start = end + 2;
      }
    } else if (const auto* d = std::get_if<Delay>(&action)) {
      note("A: delay " + std::to_string(d->duration.count()) + "ms");
    } else if (const auto* cs = std::get_if<CheckSender>(&action)) {
      note("A: check-sender " + cs->sender.to_path() +
           (cs->auth_account.empty() ? "" : " auth=" + cs->auth_account));
      EXPECT_EQ(session_.state(), State::kCheckingSender);
      EXPECT_FALSE(session_.wants_input());
      perform(session_.step(fake_sender_verdict(*cs, session_.config().submission)));
    } else if (const auto* va = std::get_if<VerifyAuth>(&action)) {
      note("A: verify-auth " + va->mechanism + " authzid=" + va->authzid +
           " authcid=" + va->authcid + " password=" + va->password);
      EXPECT_EQ(session_.state(), State::kVerifyingAuth);
      EXPECT_FALSE(session_.wants_input());
      perform(session_.step(fake_auth(*va)));
    } else if (const auto* sf = std::get_if<ScramFirst>(&action)) {
      note("A: scram-first " + sf->client_first);
      EXPECT_EQ(session_.state(), State::kVerifyingAuth);
      EXPECT_FALSE(session_.wants_input());
      perform(session_.step(fake_scram_first(*sf, scram_user_, scram_nonce_)));
    } else if (const auto* sl = std::get_if<ScramFinal>(&action)) {
      note("A: scram-final " + sl->client_final);
      EXPECT_EQ(session_.state(), State::kVerifyingAuth);
      EXPECT_FALSE(session_.wants_input());
      AuthChecked answer = fake_scram_final(*sl, scram_user_, scram_nonce_);
      scram_user_.clear();
      scram_nonce_.clear();
      perform(session_.step(answer));
    } else if (const auto* c = std::get_if<CheckRecipient>(&action)) {
      ++checks_;
      note("A: check " + c->recipient.to_path() + " from " + c->sender.to_path());
      EXPECT_EQ(session_.state(), State::kCheckingRecipient);
      EXPECT_FALSE(session_.wants_input());
      perform(session_.step(fake_verdict(*c)));
    } else if (const auto* dl = std::get_if<Deliver>(&action)) {
      const Envelope& env = dl->envelope;
      std::string rcpts;
      for (const auto& rcpt : env.recipients) {
        rcpts += (rcpts.empty() ? "" : ",") + rcpt.address.to_path();
        for (const auto& x : rcpt.resolved)
          rcpts += "=" + (x.is_remote() ? ">" + x.address : x.local + "@" + x.domain);
        // RFC 3461, shown only when given.
        if (rcpt.params.notify.given())
          rcpts += "[notify=" + mail::notify_text(rcpt.params.notify) + "]";
        if (rcpt.params.orcpt.given())
          rcpts += "[orcpt=" + rcpt.params.orcpt.type + ";" + rcpt.params.orcpt.address + "]";
      }
      note("A: deliver helo=" + env.helo + (env.esmtp ? " esmtp" : " smtp") + " from=" +
           env.mail_from.to_path() + " to=" + rcpts + " size=" + std::to_string(env.body.size()) +
           " lines=" + std::to_string(env.lines) + (env.eight_bit_mime ? " 8bitmime" : "") +
           (env.binary_mime ? " binarymime" : "") + (env.smtputf8 ? " smtputf8" : "") +
           (env.dsn_ret != mail::DsnRet::kUnspecified
                ? " ret=" + std::string(mail::ret_text(env.dsn_ret))
                : "") +
           (env.dsn_envid.empty() ? "" : " envid=" + env.dsn_envid) +
           (env.tls ? " tls=" + env.tls->protocol + "/" + env.tls->cipher : "") +
           (env.auth_account.empty() ? "" : " account=" + env.auth_account) +
           (env.tls || !env.auth_account.empty() ? " with " + std::string(received_protocol(env))
                                                 : ""));
      std::size_t start = 0;
      int shown = 0;
      while (start < env.body.size()) {
        std::size_t end = env.body.find("\r\n", start);
        // DATA always ends in CRLF; BDAT content need not (RFC 3030 counts octets).
        const bool unterminated = end == std::string::npos;
        if (unterminated) end = env.body.size();
        if (++shown <= 12) {
          std::string line = env.body.substr(start, end - start);
          std::string shown_line;
          for (unsigned char ch : line) {
            if (ch < 0x20 || ch >= 0x7f) {
              static constexpr char kHex[] = "0123456789abcdef";
              shown_line += "\\x";
              shown_line += kHex[ch >> 4];
              shown_line += kHex[ch & 15];
            } else {
              shown_line += static_cast<char>(ch);
            }
          }
          note("| " + shown_line + (unterminated ? " [no line end]" : ""));
        }
        start = end + 2;
      }
      if (shown > 12) note("| ... " + std::to_string(shown - 12) + " more lines");
      EXPECT_EQ(session_.state(), State::kDelivering);
      EXPECT_FALSE(session_.wants_input());
      delivered_.push_back(env);
      perform(session_.step(fake_delivery(env, queue_counter_)));
    } else if (std::holds_alternative<StartTls>(action)) {
      ++handshakes_;
      note("A: starttls");
      EXPECT_EQ(session_.state(), State::kStartingTls);
      EXPECT_FALSE(session_.wants_input());
      TlsStarted started;
      started.ok = !tls_fails_;
      if (started.ok) {
        started.protocol = "TLSv1.3";
        started.cipher = "TLS_AES_256_GCM_SHA384";
      }
      note(started.ok ? "E: tls TLSv1.3 TLS_AES_256_GCM_SHA384" : "E: tls handshake failed");
      perform(session_.step(started));
    } else if (std::holds_alternative<Close>(action)) {
      note("A: close");
      closed_ = true;
      EXPECT_EQ(session_.state(), State::kClosed);
      EXPECT_FALSE(session_.wants_input());
    }
  }
}

}  // namespace tegami::smtp::testing
