// libFuzzer target: the SMTP server state machine, driven like the Asio
// driver drives it, with fake verdicts and deliveries chosen by the input.
// Checks: replies are well-formed lines without bare CR/LF; nothing follows
// Close; CheckSender/CheckRecipient/VerifyAuth/Scram*/Deliver come only where the
// state says; a delivered body has only CRLF line endings (unless BINARYMIME,
// which BDAT delivers octet for octet) and at least one
// recipient; AUTH credentials never contain NUL.
//
// Input: byte 0 picks the chunk size (bit 7: one line per read, like an
// interactive client; bit 6: STARTTLS offered, the fake handshake failing
// now and then; bit 5: AUTH offered, bit 4: clear-text AUTH allowed); byte 1
// the config; then the client's bytes. A 0xff byte followed by a
// selector byte injects a driver event.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "proto/smtp/server_session.hpp"

using namespace tegami;
using namespace tegami::smtp;

namespace {

struct Driver {
  ServerSession session;
  bool closed = false;
  unsigned verdict_bits = 0;
  int depth = 0;

  void check_reply(const std::string& text) {
    if (text.size() < 6 || !text.ends_with("\r\n")) std::abort();
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find("\r\n", start);
      if (end == std::string::npos) std::abort();
      std::string_view line(text.data() + start, end - start);
      if (line.size() < 4 || line.size() + 2 > 512) std::abort();
      for (int i = 0; i < 3; ++i) {
        if (line[i] < '0' || line[i] > '9') std::abort();
      }
      if (line[3] != ' ' && line[3] != '-') std::abort();
      for (char c : line) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) std::abort();
      }
      start = end + 2;
    }
  }

  void perform(const Actions& actions) {
    if (++depth > 1000) std::abort();
    for (std::size_t i = 0; i + 1 < actions.size(); ++i) {
      // CheckRecipient, Deliver and Close end their Actions (the header's promise).
      if (!std::holds_alternative<Reply>(actions[i]) &&
          !std::holds_alternative<Delay>(actions[i])) {
        std::abort();
      }
    }
    for (const auto& a : actions) {
      if (closed) std::abort();  // nothing after Close
      if (const auto* r = std::get_if<Reply>(&a)) {
        check_reply(r->text);
      } else if (std::holds_alternative<CheckSender>(a)) {
        if (session.state() != State::kCheckingSender || session.wants_input()) std::abort();
        bool ok = ((verdict_bits++ * 5) % 4) != 0;
        perform(session.step(SenderChecked{ok, ok ? "250 2.1.0 Ok" : "553 5.7.1 not yours"}));
      } else if (const auto* v = std::get_if<VerifyAuth>(&a)) {
        if (session.state() != State::kVerifyingAuth || session.wants_input()) std::abort();
        if (!session.config().offer_auth || !session.auth_account().empty()) std::abort();
        if (v->authcid.empty() || v->password.empty()) std::abort();
        for (const auto* f : {&v->authzid, &v->authcid, &v->password}) {
          if (f->find('\0') != std::string::npos) std::abort();
        }
        AuthChecked ev;
        switch (verdict_bits++ % 4) {
          case 0:
            ev.outcome = AuthChecked::Outcome::kOk;
            ev.account = "a@example.test";
            break;
          case 1:
            ev.outcome = AuthChecked::Outcome::kBadCredentials;
            break;
          case 2:
            ev.outcome = AuthChecked::Outcome::kTempFailure;
            break;
          default:
            ev.outcome = verdict_bits % 7 == 0 ? AuthChecked::Outcome::kTooManyFailures
                                               : AuthChecked::Outcome::kBadCredentials;
            break;
        }
        perform(session.step(ev));
      } else if (std::holds_alternative<ScramFirst>(a) || std::holds_alternative<ScramFinal>(a)) {
        if (session.state() != State::kVerifyingAuth || session.wants_input()) std::abort();
        if (!session.config().offer_auth || !session.auth_account().empty()) std::abort();
        AuthChecked ev;
        switch (verdict_bits++ % 4) {
          case 0:
          case 1:
            ev.outcome = AuthChecked::Outcome::kContinue;
            ev.challenge = "r=abc,s=c2FsdA==,i=4096";
            ev.account = "a@example.test";
            break;
          case 2:
            ev.outcome = AuthChecked::Outcome::kTempFailure;
            break;
          default:
            ev.outcome = AuthChecked::Outcome::kBadCredentials;
            break;
        }
        perform(session.step(ev));
      } else if (const auto* c = std::get_if<CheckRecipient>(&a)) {
        if (session.state() != State::kCheckingRecipient || session.wants_input()) std::abort();
        if (c->recipient.null_path) std::abort();
        bool ok = ((verdict_bits++ * 7) % 3) != 0;
        perform(session.step(RecipientChecked{ok,
                                              ok ? "250 2.1.5 Ok" : "550 5.1.1 no",
                                              {Destination::mailbox("example.test", "x")}}));
      } else if (const auto* d = std::get_if<Deliver>(&a)) {
        if (session.state() != State::kDelivering) std::abort();
        const auto& env = d->envelope;
        if (env.recipients.empty()) std::abort();
        const std::string& b = env.body;
        // BINARYMIME (BDAT only) keeps every octet; text has CRLF line ends only.
        for (std::size_t i = 0; i < b.size() && !env.binary_mime; ++i) {
          if (b[i] == '\r' && (i + 1 == b.size() || b[i + 1] != '\n')) std::abort();
          if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r')) std::abort();
        }
        if (b.size() > session.config().max_message_size) std::abort();
        if ((verdict_bits++ & 3) == 0) {
          perform(session.step(DeliveryDone{fail(Error::temp("disk full"))}));
        } else {
          perform(session.step(DeliveryDone{std::string("Q1")}));
        }
      } else if (std::holds_alternative<StartTls>(a)) {
        if (session.state() != State::kStartingTls || session.wants_input()) std::abort();
        bool ok = (verdict_bits++ % 5) != 0;
        perform(
            session.step(TlsStarted{ok, ok ? "TLSv1.3" : "", ok ? "TLS_AES_128_GCM_SHA256" : ""}));
        if (ok && (!session.tls() || session.state() != State::kGreeted)) std::abort();
      } else if (std::holds_alternative<Close>(a)) {
        if (session.state() != State::kClosed || session.wants_input()) std::abort();
        closed = true;
      }
    }
    --depth;
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // the session logs every connection
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::size_t chunk = 1 + data[0] % 64;
  bool by_line = (data[0] & 0x80) != 0;
  SessionConfig config;
  config.hostname = "mx.example.test";
  config.max_message_size = 64 + (data[1] & 0x0f) * 64;
  config.max_recipients = 1 + (data[1] >> 4);
  config.offer_starttls = (data[0] & 0x40) != 0;
  config.offer_auth = (data[0] & 0x20) != 0;
  config.plaintext_auth = (data[0] & 0x10) != 0;
  Driver d{ServerSession(config)};
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  d.perform(d.session.step(Connected{}));
  while (!in.empty() && !d.closed) {
    if (static_cast<unsigned char>(in[0]) == 0xff && in.size() >= 2) {
      switch (in[1] % 4) {
        case 0:
          d.perform(d.session.step(Timeout{}));
          break;
        case 1:
          d.perform(d.session.step(Shutdown{}));
          break;
        case 2:
          d.session.step(PeerClosed{});
          if (d.session.state() != State::kClosed) std::abort();
          d.closed = true;
          break;
        default:
          break;
      }
      in.remove_prefix(2);
      continue;
    }
    if (!d.session.wants_input()) std::abort();  // the driver always gets control back
    std::string_view piece = in.substr(0, chunk);
    if (by_line) piece = in.substr(0, std::min(in.find('\n'), std::size_t{600}) + 1);
    if (auto ff = piece.find('\xff'); ff != std::string_view::npos && ff > 0) {
      piece = piece.substr(0, ff);
    } else if (ff == 0) {
      piece = piece.substr(0, 1);
    }
    d.perform(d.session.step(Input{piece}));
    in.remove_prefix(piece.size());
  }
  return 0;
}
