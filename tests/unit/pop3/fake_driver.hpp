// A fake POP3 driver for tests: it performs a ServerSession's actions against
// an in-memory directory and maildrop and feeds the answers back, recording
// the whole dialogue as text ("C:" client, "S:" server lines, "A:" actions,
// "E:" answering events). One fake per interface (DESIGN rule 12).
//
// Accounts (password "secret" unless said):
//   alice  -> alice@example.test, the four standard messages
//   mrose  -> APOP only: accepts RFC 1939's example digest for the RFC timestamp
//   bob    -> maildrop locked by another session ([IN-USE])
//   carol  -> maildrop storage failure ([SYS/TEMP])
//   dave   -> directory failure during verification ([SYS/TEMP])
//   erin   -> an empty maildrop
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "proto/pop3/server_session.hpp"

namespace tegami::pop3::testing {

// RFC 1939 §7 example.
inline constexpr std::string_view kRfcTimestamp = "<1896.697170952@dbc.mtview.ca.us>";
inline constexpr std::string_view kRfcDigest = "c4c9334bac560ecc979e58001b3e22fb";

struct FakeMessage {
  std::string uid;
  std::string data;
};

inline std::vector<FakeMessage> standard_messages() {
  return {
      {"1700000001.M1P100.mx", "Return-Path: <a@example.net>\r\nSubject: one\r\n\r\nHello\r\n"},
      {"1700000002.M2P100.mx",
       "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n"},
      {"1700000003.M3P100.mx",
       "From: c@example.net\r\nSubject: three\r\n\r\nline 1\r\nline 2\r\nline 3\r\n.line 4\r\n"},
      {"1700000004.M4P100.mx", "Subject: four\r\n\r\nno final line end"},
  };
}

class FakeDriver {
 public:
  explicit FakeDriver(Config config) : session_(std::move(config)) {}

  bool commit_fails = false;
  bool read_fails = false;

  ServerSession& session() { return session_; }
  const std::string& log() const { return log_; }
  bool closed() const { return closed_; }
  const std::vector<Action>& actions() const { return actions_; }
  std::size_t commits() const { return commits_; }
  const Commit& last_commit() const { return last_commit_; }

  void connect() { run(Connected{}); }
  void client(std::string_view bytes, bool record = true) {
    if (record) note_client(bytes);
    run(Input{bytes});
  }
  void timeout() {
    log_ += "E: Timeout\n";
    run(Timeout{});
  }

  // Steps the session with `event` and performs every resulting action,
  // answering those that need an answer, until nothing is left.
  void run(const Event& event);

 private:
  void note_client(std::string_view bytes);
  void perform(const Action& action, std::deque<Event>& answers);

  ServerSession session_;
  std::vector<FakeMessage> maildrop_;
  std::string log_;
  bool closed_ = false;
  std::vector<Action> actions_;
  std::size_t commits_ = 0;
  Commit last_commit_;
};

// Escapes control bytes for the transcript (\r, \n, \xNN).
std::string escape(std::string_view s);

}  // namespace tegami::pop3::testing
