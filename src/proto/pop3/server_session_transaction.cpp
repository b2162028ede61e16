// ServerSession, TRANSACTION and UPDATE states (RFC 1939 §5, §6, §7).
#include <fmt/format.h>

#include "core/log.hpp"
#include "proto/pop3/message_format.hpp"
#include "proto/pop3/server_session.hpp"

namespace tegami::pop3 {
namespace {

// A strictly decimal number: digits only (no sign, no space), no overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

std::string ServerSession::drop_summary() const {
  std::size_t count = 0;
  std::uint64_t octets = 0;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (deleted_[i]) continue;
    ++count;
    octets += messages_[i].size;
  }
  return fmt::format("{} messages ({} octets)", count, octets);
}

std::optional<std::size_t> ServerSession::live_message(std::string_view arg, Actions& out) {
  const std::optional<std::uint64_t> n = parse_decimal(arg);
  if (!n) {
    reply(out, "-ERR invalid message number");
    return std::nullopt;
  }
  if (*n == 0 || *n > messages_.size()) {
    reply(out, "-ERR no such message");
    return std::nullopt;
  }
  const auto index = static_cast<std::size_t>(*n - 1);
  if (deleted_[index]) {
    reply(out, fmt::format("-ERR message {} already deleted", *n));
    return std::nullopt;
  }
  return index;
}

void ServerSession::cmd_stat(Actions& out) {
  // RFC 1939 §5: deleted messages are not counted.
  std::size_t count = 0;
  std::uint64_t octets = 0;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (deleted_[i]) continue;
    ++count;
    octets += messages_[i].size;
  }
  reply(out, fmt::format("+OK {} {}", count, octets));
}

void ServerSession::cmd_list(const Command& cmd, Actions& out) {
  if (!cmd.args.empty()) {
    const auto index = live_message(cmd.args[0], out);
    if (index) reply(out, fmt::format("+OK {} {}", *index + 1, messages_[*index].size));
    return;
  }
  std::string text = "+OK " + drop_summary() + "\r\n";
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (!deleted_[i]) text += fmt::format("{} {}\r\n", i + 1, messages_[i].size);
  }
  text += ".\r\n";
  out.emplace_back(Reply{std::move(text)});
}

void ServerSession::cmd_uidl(const Command& cmd, Actions& out) {
  if (!cmd.args.empty()) {
    const auto index = live_message(cmd.args[0], out);
    if (index) reply(out, fmt::format("+OK {} {}", *index + 1, messages_[*index].uid));
    return;
  }
  std::string text = "+OK unique-id listing follows\r\n";
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (!deleted_[i]) text += fmt::format("{} {}\r\n", i + 1, messages_[i].uid);
  }
  text += ".\r\n";
  out.emplace_back(Reply{std::move(text)});
}

void ServerSession::cmd_retr_top(const Command& cmd, Actions& out) {
  const auto index = live_message(cmd.args[0], out);
  if (!index) return;
  top_lines_.reset();
  if (cmd.verb == Verb::Top) {
    top_lines_ = parse_decimal(cmd.args[1]);
    if (!top_lines_) return reply(out, "-ERR invalid line count");
  }
  reading_ = *index;
  awaiting_ = Awaiting::Message;
  out.emplace_back(ReadMessage{*index});
}

void ServerSession::on_message_data(const MessageData& data, Actions& out) {
  if (!expect(Awaiting::Message, "MessageData")) return;
  if (data.index != reading_) {
    spdlog::warn("pop3 session {} MessageData for {} while reading {} ignored",
                 log_safe(config_.session_id), data.index, reading_);
    return;
  }
  awaiting_ = Awaiting::Nothing;
  if (!data.ok) {
    return reply(out, fmt::format("-ERR [SYS/TEMP] cannot read message {}", reading_ + 1));
  }
  std::string text;
  if (top_lines_) {
    text = "+OK top of message follows\r\n";
  } else {
    // The size LIST reported (RFC 1939 §5 example): the CRLF size, known
    // from the file name, so the message need not be read first.
    text = fmt::format("+OK {} octets\r\n", messages_[reading_].size);
    if (!retrieved_[reading_]) {
      retrieved_[reading_] = true;
      ++stats_.retrieved;
    }
  }
  out.emplace_back(Reply{std::move(text)});
  out.emplace_back(SendMessage{reading_, top_lines_});
}

void ServerSession::cmd_dele(const Command& cmd, Actions& out) {
  const auto index = live_message(cmd.args[0], out);
  if (!index) return;
  deleted_[*index] = true;  // only marked: removal happens in UPDATE (RFC 1939 §6)
  reply(out, fmt::format("+OK message {} deleted", *index + 1));
}

void ServerSession::cmd_rset(Actions& out) {
  deleted_.assign(messages_.size(), false);
  reply(out, "+OK maildrop has " + drop_summary());
}

void ServerSession::cmd_quit_transaction(Actions& out) {
  // Anything pipelined after QUIT is ignored.
  discard_input_ = true;
  pending_.clear();
  stats_.deleted = 0;
  for (bool d : deleted_) stats_.deleted += d ? 1 : 0;
  enter_state(State::Update);
  awaiting_ = Awaiting::Update;
  out.emplace_back(Commit{deleted_, retrieved_});
}

void ServerSession::on_update_done(const UpdateDone& done, Actions& out) {
  if (!expect(Awaiting::Update, "UpdateDone")) return;
  awaiting_ = Awaiting::Nothing;
  if (done.ok) {
    stats_.committed = true;
    reply(out, fmt::format("+OK tegami POP3 server signing off ({} messages left)",
                           messages_.size() - stats_.deleted));
  } else {
    // RFC 1939 §6: -ERR when some deleted messages could not be removed.
    reply(out, "-ERR [SYS/TEMP] some deleted messages were not removed");
  }
  close(out);
}

}  // namespace tegami::pop3
