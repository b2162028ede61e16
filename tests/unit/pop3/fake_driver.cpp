#include "fake_driver.hpp"

#include <fmt/format.h>

#include "core/overloaded.hpp"
#include "proto/pop3/message_format.hpp"

namespace tegami::pop3::testing {
namespace {

std::string flags(const std::vector<bool>& v) {
  std::string s;
  for (bool b : v) s += b ? '1' : '0';
  return s;
}

}  // namespace

std::string escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void FakeDriver::note_client(std::string_view bytes) {
  // One "C:" line per CRLF-terminated line; anything else shown escaped.
  while (!bytes.empty()) {
    const std::size_t crlf = bytes.find("\r\n");
    if (crlf == std::string_view::npos) {
      log_ += "C~ " + escape(bytes) + "\n";
      return;
    }
    log_ += "C: " + escape(bytes.substr(0, crlf)) + "\n";
    bytes.remove_prefix(crlf + 2);
  }
}

void FakeDriver::run(const Event& first) {
  std::deque<Event> events{first};
  while (!events.empty()) {
    Event ev = std::move(events.front());
    events.pop_front();
    Actions actions = session_.step(ev);
    for (std::size_t i = 0; i + 1 < actions.size(); ++i) {
      const Action& a = actions[i];
      const bool needs_answer =
          std::holds_alternative<VerifyUserPass>(a) || std::holds_alternative<VerifyApop>(a) ||
          std::holds_alternative<VerifyPlain>(a) || std::holds_alternative<OpenMaildrop>(a) ||
          std::holds_alternative<ReadMessage>(a) || std::holds_alternative<Commit>(a) ||
          std::holds_alternative<StartTls>(a);
      if (needs_answer) log_ += "!! an action needing an answer is not the last of its step\n";
    }
    for (const auto& a : actions) {
      actions_.push_back(a);
      perform(a, events);
    }
  }
}

void FakeDriver::perform(const Action& action, std::deque<Event>& answers) {
  auto auth = [&](std::string_view user, bool password_ok, Mechanism) {
    AuthResult r;
    const bool known = user == "alice" || user == "bob" || user == "carol" || user == "erin";
    if (user == "dave") {
      r.failure = Failure::TempFailure;
    } else if (known && password_ok) {
      r.ok = true;
      r.account = std::string(user) + "@example.test";
    }
    log_ += r.ok ? fmt::format("E: AuthResult ok account={}\n", r.account)
                 : fmt::format("E: AuthResult failed {}\n",
                               r.failure == Failure::TempFailure ? "temp" : "bad-credentials");
    answers.emplace_back(std::move(r));
  };
  std::visit(
      Overloaded{
          [&](const Reply& r) {
            std::string_view text = r.text;
            while (!text.empty()) {
              const std::size_t crlf = text.find("\r\n");
              if (crlf == std::string_view::npos) {
                log_ += "S~ " + escape(text) + "  (NO CRLF)\n";
                return;
              }
              log_ += "S: " + escape(text.substr(0, crlf)) + "\n";
              text.remove_prefix(crlf + 2);
            }
          },
          [&](const VerifyUserPass& v) {
            log_ += fmt::format("A: VerifyUserPass user={} pass={}\n", escape(v.user),
                                escape(v.password));
            auth(v.user, v.password == "secret", Mechanism::UserPass);
          },
          [&](const VerifyApop& v) {
            log_ += fmt::format("A: VerifyApop user={} timestamp={} digest={}\n", escape(v.user),
                                escape(v.timestamp), v.digest);
            AuthResult r;
            if (v.user == "mrose" && v.timestamp == kRfcTimestamp && v.digest == kRfcDigest) {
              r.ok = true;
              r.account = "mrose@example.test";
            }
            log_ += r.ok ? fmt::format("E: AuthResult ok account={}\n", r.account)
                         : "E: AuthResult failed bad-credentials\n";
            answers.emplace_back(std::move(r));
          },
          [&](const VerifyPlain& v) {
            log_ += fmt::format("A: VerifyPlain authzid={} authcid={} pass={}\n", escape(v.authzid),
                                escape(v.authcid), escape(v.password));
            const bool authz_ok = v.authzid.empty() || v.authzid == v.authcid;
            auth(v.authcid, authz_ok && v.password == "secret", Mechanism::SaslPlain);
          },
          [&](const OpenMaildrop& o) {
            log_ += fmt::format("A: OpenMaildrop account={}\n", o.account);
            MaildropOpened m;
            if (o.account == "bob@example.test") {
              m.failure = Failure::InUse;
              log_ += "E: MaildropOpened failed in-use\n";
            } else if (o.account == "carol@example.test") {
              m.failure = Failure::TempFailure;
              log_ += "E: MaildropOpened failed temp\n";
            } else {
              maildrop_ = o.account == "erin@example.test" ? std::vector<FakeMessage>{}
                                                           : standard_messages();
              m.ok = true;
              for (const auto& msg : maildrop_) m.messages.push_back({msg.data.size(), msg.uid});
              log_ += fmt::format("E: MaildropOpened ok messages={}\n", m.messages.size());
            }
            answers.emplace_back(std::move(m));
          },
          [&](const ReadMessage& r) {
            log_ += fmt::format("A: ReadMessage index={}\n", r.index);
            MessageData d;
            d.index = r.index;
            if (!read_fails && r.index < maildrop_.size()) d.ok = true;
            log_ += fmt::format("E: MessageData index={} {}\n", r.index, d.ok ? "ok" : "failed");
            answers.emplace_back(d);
          },
          [&](const SendMessage& m) {
            // What the real driver streams from the file (MultilineEncoder).
            std::string text;
            if (m.index < maildrop_.size())
              append_multiline_message(text, maildrop_[m.index].data, m.top_lines);
            std::string_view rest = text;
            while (!rest.empty()) {
              const std::size_t crlf = rest.find("\r\n");
              log_ += "S: " + escape(rest.substr(0, crlf)) + "\n";
              rest.remove_prefix(crlf + 2);
            }
          },
          [&](const Commit& c) {
            ++commits_;
            last_commit_ = c;
            log_ += fmt::format("A: Commit deleted={} retrieved={}\n", flags(c.deleted),
                                flags(c.retrieved));
            log_ += fmt::format("E: UpdateDone {}\n", commit_fails ? "failed" : "ok");
            answers.emplace_back(UpdateDone{!commit_fails});
          },
          [&](const StartTls&) {
            log_ += "A: StartTls\nE: TlsStarted ok\n";
            answers.emplace_back(TlsStarted{true});
          },
          [&](const LoginFailed& f) {
            log_ += fmt::format("A: LoginFailed user={} mechanism={}\n", escape(f.user),
                                to_string(f.mechanism));
          },
          [&](const LoggedIn& l) {
            log_ += fmt::format("A: LoggedIn account={} mechanism={}\n", l.account,
                                to_string(l.mechanism));
          },
          [&](const Close&) {
            closed_ = true;
            log_ += "A: Close\n";
          },
      },
      action);
}

}  // namespace tegami::pop3::testing
