// A fake SMTP driver for tests: it performs a ServerSession's actions the way
// the Asio driver does, answers CheckRecipient with a fake recipient policy
// and Deliver with a fake store, and records the dialogue as text:
//   "C: ..." / "P: ..." / "R: ..."  client input (as written in the script)
//   "S: ..."                         each server reply line (CRLF removed)
//   "A: ..."                         the other actions (check, deliver, delay, starttls, close)
//   "E: ..."                         events the fake feeds on its own (the TLS handshake)
//   "| ..."                          the lines of a delivered message
// One fake per interface (DESIGN rule 12).
//
// Fake policy:   alice@, bob@, postmaster@example.test and <Postmaster> are
//                local (postmaster resolves to alice); other @example.test are
//                "550 5.1.1 ... User unknown"; every other domain and every
//                is_relay_hack() address is "554 5.7.1 ... Relay access denied".
// Fake store:    a body containing "X-Test-Fail: temp" fails 451 4.3.0, one
//                with "X-Test-Fail: perm" fails 554 5.7.1; else ids Q1, Q2, ...
// Fake sender policy: on a submission session (SessionConfig::submission)
//                without AUTH: 530 5.7.0; after AUTH as alice@example.test,
//                only <alice@example.test> and <> (else 553 5.7.1); without
//                AUTH, <forged@example.test>: 550 5.7.1; else 250.
// Fake AUTH:     alice@example.test / "secret" logs in; password "temp"
//                fails temporarily, "lockout" as the tenth failure; else 535.
// Fake SCRAM:   ScramFirst "n,,n=USER,r=NONCE" (or "y,,...") continues with
//                "r=NONCE+srv,s=c2FsdA==,i=4096" for any USER ("n=temp": 454);
//                anything else is 535. ScramFinal "c=biws,r=NONCE+srv,p=good"
//                as alice@example.test continues with "v=c2lnbmF0dXJl" and
//                logs in as alice; "p=lockout" is the tenth failure; else 535.
// Fake TLS:      StartTls is answered at once with TlsStarted: TLSv1.3 with
//                TLS_AES_256_GCM_SHA384, or a failure after set_tls_fails().
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proto/smtp/server_session.hpp"

namespace tegami::smtp::testing {

RecipientChecked fake_verdict(const CheckRecipient& check);
DeliveryDone fake_delivery(const Envelope& envelope, int& counter);
SenderChecked fake_sender_verdict(const CheckSender& check, bool submission);
AuthChecked fake_auth(const VerifyAuth& verify);
// `user`/`nonce`: the exchange state the fake keeps between the two steps.
AuthChecked fake_scram_first(const ScramFirst& first, std::string& user, std::string& nonce);
AuthChecked fake_scram_final(const ScramFinal& final_msg, const std::string& user,
                             const std::string& nonce);

class FakeDriver {
 public:
  explicit FakeDriver(SessionConfig config) : session_(std::move(config)) {}

  // Connects; non-empty `pregreet` simulates an early talker.
  void connect(std::string_view pregreet = {});
  // Feeds `bytes` as one Input, or one byte per Input when `bytewise`.
  void client(std::string_view bytes, bool bytewise = false);
  void event(const Event& e);
  void note(std::string_view line) { log_ += std::string(line) + "\n"; }
  void set_tls_fails(bool fails) { tls_fails_ = fails; }
  std::size_t handshakes() const { return handshakes_; }

  bool closed() const { return closed_; }
  const std::string& log() const { return log_; }
  const std::vector<Envelope>& delivered() const { return delivered_; }
  std::size_t checks() const { return checks_; }
  ServerSession& session() { return session_; }

 private:
  void perform(const Actions& actions);

  ServerSession session_;
  std::string log_;
  std::vector<Envelope> delivered_;
  std::size_t checks_ = 0;
  int queue_counter_ = 0;
  bool tls_fails_ = false;
  std::size_t handshakes_ = 0;
  std::string scram_user_;
  std::string scram_nonce_;
  bool closed_ = false;
};

}  // namespace tegami::smtp::testing
