// libFuzzer target: the POP3 server state machine (proto/pop3/server_session.hpp)
// driven by a fake driver that answers every action.
//
// Input format: byte 0 = config flags (apop, plaintext, stls) and fake
// behaviour (auth fails, maildrop in use, read fails, commit fails). Then a
// sequence of operations: a byte b < 0xf0 sends the next (b % 64 + 1) bytes as
// client Input; 0xf0 fires Timeout; 0xf1 takes the next (n) bytes as the body
// of message 1 (so the formatter sees hostile content); others are ignored.
//
// Invariants: every Reply is CRLF-terminated text with no bare LF, starts
// with "+OK", "-ERR" or "+ ", and has a "." line only as its last line
// (dot-stuffing); an action needing an answer is the last of its step;
// nothing follows Close; with every action answered the
// session never stays waiting; deletion flags reach Commit only after QUIT.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "proto/pop3/message_format.hpp"
#include "proto/pop3/server_session.hpp"

using namespace tegami::pop3;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_reply(const std::string& text) {
  check(text.size() >= 3);
  check(text.ends_with("\r\n"));
  check(text.starts_with("+OK") || text.starts_with("-ERR") || text.starts_with("+ "));
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t lf = text.find('\n', pos);
    check(lf != std::string::npos && lf > pos && text[lf - 1] == '\r');  // no bare LF
    const std::string_view line(text.data() + pos, lf - 1 - pos);
    pos = lf + 1;
    if (line == ".") check(pos == text.size());  // a "." line ends the reply
  }
}

bool needs_answer(const Action& a) {
  return std::holds_alternative<VerifyUserPass>(a) || std::holds_alternative<VerifyApop>(a) ||
         std::holds_alternative<VerifyPlain>(a) || std::holds_alternative<OpenMaildrop>(a) ||
         std::holds_alternative<ReadMessage>(a) || std::holds_alternative<Commit>(a) ||
         std::holds_alternative<StartTls>(a);
}

struct Fake {
  bool auth_fails = false;
  bool in_use = false;
  bool read_fails = false;
  bool commit_fails = false;
  std::string messages[3] = {"Subject: a\r\n\r\n.x\r\n", "Subject: b\r\n\r\n1\r\n2\r\n", ""};
  bool closed = false;
  bool quit_seen = false;
};

void drive(ServerSession& s, Fake& f, const Event& first) {
  std::deque<Event> events{first};
  while (!events.empty()) {
    Event ev = events.front();
    events.pop_front();
    const Actions actions = s.step(ev);
    for (std::size_t i = 0; i < actions.size(); ++i) {
      // At most one action needs an answer, and it comes last.
      if (needs_answer(actions[i])) check(i + 1 == actions.size() && s.awaiting());
    }
    for (const Action& a : actions) {
      check(!f.closed);  // nothing after Close
      if (const auto* r = std::get_if<Reply>(&a)) {
        check_reply(r->text);
      } else if (std::holds_alternative<VerifyUserPass>(a) ||
                 std::holds_alternative<VerifyApop>(a) || std::holds_alternative<VerifyPlain>(a)) {
        if (const auto* v = std::get_if<VerifyApop>(&a)) check(v->digest.size() == 32);
        AuthResult res;
        res.ok = !f.auth_fails;
        res.account = "user@example.test";
        events.emplace_back(res);
      } else if (std::holds_alternative<OpenMaildrop>(a)) {
        MaildropOpened m;
        m.ok = !f.in_use;
        m.failure = Failure::InUse;
        for (const auto& msg : f.messages) m.messages.push_back({msg.size(), "uid"});
        m.messages.push_back({0, "bad uid\r\n"});
        events.emplace_back(m);
      } else if (const auto* rm = std::get_if<ReadMessage>(&a)) {
        check(rm->index < 4);
        MessageData d;
        d.index = rm->index;
        d.ok = !f.read_fails;
        events.emplace_back(d);
      } else if (const auto* sm = std::get_if<SendMessage>(&a)) {
        check(sm->index < 4);
        std::string text;
        append_multiline_message(text, sm->index < 3 ? f.messages[sm->index] : "", sm->top_lines);
        check(text.size() >= 3 && text.compare(text.size() - 3, 3, ".\r\n") == 0);
      } else if (const auto* c = std::get_if<Commit>(&a)) {
        check(c->deleted.size() == 4 && c->retrieved.size() == 4);
        check(s.state() == State::Update);
        f.quit_seen = true;
        events.emplace_back(UpdateDone{!f.commit_fails});
      } else if (std::holds_alternative<StartTls>(a)) {
        events.emplace_back(TlsStarted{true});
      } else if (std::holds_alternative<Close>(a)) {
        f.closed = true;
        check(s.state() == State::Closed);
      }
    }
  }
  check(!s.awaiting() || s.state() == State::Closed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  if (size < 1) return 0;
  Config config;
  config.session_id = "fuzz";
  config.apop = (data[0] & 1) != 0;
  config.apop_timestamp = "<1.2.3.0000000000000004@fuzz.example>";
  config.plaintext_allowed = (data[0] & 2) != 0;
  config.stls_offered = (data[0] & 4) != 0;
  Fake fake;
  fake.auth_fails = (data[0] & 8) != 0;
  fake.in_use = (data[0] & 16) != 0;
  fake.read_fails = (data[0] & 32) != 0;
  fake.commit_fails = (data[0] & 64) != 0;

  ServerSession session(config);
  drive(session, fake, Connected{});
  std::size_t pos = 1;
  while (pos < size && !fake.closed) {
    const std::uint8_t op = data[pos++];
    if (op < 0xf0) {
      const std::size_t n = std::min<std::size_t>(op % 64 + 1, size - pos);
      drive(session, fake, Input{std::string_view(reinterpret_cast<const char*>(data + pos), n)});
      pos += n;
    } else if (op == 0xf0) {
      drive(session, fake, Timeout{});
    } else if (op == 0xf1 && pos < size) {
      const std::size_t want = data[pos++];
      const std::size_t n = std::min<std::size_t>(want, size - pos);
      fake.messages[0].assign(reinterpret_cast<const char*>(data + pos), n);
      pos += n;
    }
  }
  return 0;
}
