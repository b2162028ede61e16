// libFuzzer target: the SMTP reply parser (client side) and, behind it, the
// client state machine. Checks that the parser is bounded, consumes what it
// says, only returns well-formed replies with printable text, and gives the
// same results however the input is split; and that the client session fed
// the same bytes never sends a bare CR or LF and ends with an outcome for
// every recipient.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proto/smtp/client_session.hpp"
#include "proto/smtp/reply_parser.hpp"

using namespace tegami::smtp;

namespace {

std::string describe(const ReplyResult& r) {
  if (const auto* s = std::get_if<ServerReply>(&r)) {
    if (s->code < 200 || s->code > 559 || s->lines.empty()) std::abort();
    if (s->lines.size() > kMaxReplyLines) std::abort();
    std::string out = std::to_string(s->code);
    for (const auto& l : s->lines) {
      if (l.size() > kMaxReplyLineIn) std::abort();
      for (char ch : l) {
        auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u >= 0x7f) std::abort();
      }
      out += "|" + l;
    }
    auto e = s->enhanced();
    if (!e.empty() && e[0] - '0' != s->kind()) std::abort();
    (void)s->text();
    return out;
  }
  if (const auto* e = std::get_if<ReplyError>(&r)) return "E" + std::to_string(int(e->kind));
  return "N";
}

std::vector<std::string> run(std::string_view input, std::size_t chunk) {
  ReplyParser p;
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < input.size(); pos += chunk) {
    std::string_view piece = input.substr(pos, chunk);
    while (!piece.empty()) {
      ReplyFeed f = p.feed(piece);
      if (f.consumed > piece.size()) std::abort();
      bool need = std::holds_alternative<NeedMore>(f.result);
      if (need && f.consumed != piece.size()) std::abort();
      if (!need && f.consumed == 0) std::abort();  // a result consumes at least its LF
      piece.remove_prefix(f.consumed);
      if (need) break;
      out.push_back(describe(f.result));
      if (std::holds_alternative<ReplyError>(f.result)) return out;
    }
  }
  return out;
}

void check_wire(const std::string& bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\r' && (i + 1 >= bytes.size() || bytes[i + 1] != '\n')) std::abort();
    if (bytes[i] == '\n' && (i == 0 || bytes[i - 1] != '\r')) std::abort();
  }
}

void run_session(std::string_view input, std::size_t chunk, bool tls) {
  ClientSession s(
      ClientConfig{"mail.example.test", "F", "peer", tls},
      ClientMessage{"a@example.test", {"b@dest.test", "c@dest.test"}, 100, chunk % 2 == 0});
  auto perform = [&](const client::Actions& actions) {
    for (const auto& a : actions) {
      if (const auto* snd = std::get_if<client::Send>(&a)) check_wire(snd->bytes);
    }
    return actions;
  };
  perform(s.step(client::Connected{}));
  for (std::size_t pos = 0; pos < input.size() && s.state() != ClientState::kClosed; pos += chunk) {
    if (s.state() == ClientState::kTlsHandshake) perform(s.step(client::TlsDone{chunk % 3 == 0}));
    if (!s.wants_input()) continue;
    perform(s.step(client::Input{input.substr(pos, chunk)}));
  }
  if (s.state() != ClientState::kClosed) perform(s.step(client::PeerClosed{}));
  if (s.state() == ClientState::kTlsHandshake) perform(s.step(client::TlsDone{false}));
  if (s.state() != ClientState::kClosed) std::abort();
  for (const auto& o : s.outcomes())
    if (o.result == RecipientResult::kUnknown) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t chunk = 1 + data[0] % 17;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  auto whole = run(input, input.size() + 1);
  auto split = run(input, chunk);
  if (whole != split) std::abort();
  run_session(input, chunk, data[0] & 0x80);
  return 0;
}
