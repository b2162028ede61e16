// ServerSession: BDAT (RFC 3030 CHUNKING). The octets of a chunk follow the
// command line at once (pipelined by definition); they are read in kBdat and
// are never parsed as commands — also when the BDAT is refused, since the
// client sends them anyway (§2: the receiver reads and discards them before
// the error reply). Only a chunk-size that cannot be parsed leaves no way to
// know where the next command starts: that drops the connection.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "core/log.hpp"
#include "mail/ascii.hpp"
#include "proto/smtp/command_parser.hpp"
#include "proto/smtp/reply.hpp"
#include "proto/smtp/server_session.hpp"

namespace tegami::smtp {

namespace {

using mail::iequals;

// chunk-size ::= 1*DIGIT (RFC 3030 §2), saturated at UINT64_MAX.
std::optional<std::uint64_t> parse_chunk_size(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t n = 0;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    n = (n > (kMax - d) / 10) ? kMax : n * 10 + d;
  }
  return n;
}

// What we read and throw away for one message: like DATA (data_receiver.hpp),
// the limit plus max(limit, 10 MiB); beyond that the client is cut off.
std::uint64_t discard_limit(std::uint64_t max_size) {
  std::uint64_t allowance = std::max(max_size, kMinDiscardAllowance);
  return max_size > UINT64_MAX - allowance ? UINT64_MAX : max_size + allowance;
}

}  // namespace

void ServerSession::cmd_bdat(const Command& cmd, Actions& out) {
  // bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ] CR LF (RFC 3030 §2)
  std::string_view args = trim_spaces(cmd.args);
  std::string_view size_text = args.substr(0, args.find(' '));
  std::string_view marker = trim_spaces(args.substr(size_text.size()));
  auto size = parse_chunk_size(size_text);
  if (!size) {
    drop(out, format_reply(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]"),
         "BDAT without a chunk size: " + log_safe(cmd.args, 64));
    return;
  }
  const bool last = iequals(marker, "LAST");
  std::string refusal;
  bool ends_transaction = false;
  bool counts = true;
  if (!marker.empty() && !last) {
    refusal = format_reply(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
    ends_transaction = tx_.bdat;
  } else if (state_ == State::kGreeted || state_ == State::kReady) {
    // Also every BDAT after BDAT LAST or after a failed chunk (§2: 503).
    refusal = format_reply(503, "5.5.1", "Error: need MAIL command");
    counts = !bdat_failed_;
  } else if (state_ == State::kMail) {
    refusal = tx_.rcpt_commands == 0 ? format_reply(503, "5.5.1", "Error: need RCPT command")
                                     : format_reply(554, "5.5.1", "Error: no valid recipients");
  }
  const std::uint64_t limit = discard_limit(config_.max_message_size);
  if (!refusal.empty()) {
    if (*size > limit) {
      drop(out, std::move(refusal), fmt::format("refused BDAT of {} octets", *size));
      return;
    }
    bdat_discard_ = true;
    bdat_discard_left_ = *size;
    bdat_refusal_ = std::move(refusal);
    bdat_refusal_counts_ = counts;
    bdat_return_ = ends_transaction ? State::kReady : state_;
    if (ends_transaction) {
      reset_transaction();
      bdat_failed_ = true;
    }
    enter_state(State::kBdat);
    return;
  }
  const std::uint64_t received = bdat_ ? bdat_->received() : 0;
  if (*size > limit || received > limit - *size) {
    drop(out, std::string(error_reply(BdatErrorKind::kTooBig)),
         fmt::format("BDAT of {} octets far over the size limit", *size));
    return;
  }
  if (!bdat_) {
    // The first chunk: the message's files are opened now (issue 13), as
    // at DATA. When they cannot be, this chunk is read, thrown away and
    // answered 451; the transaction stays (the client may retry or RSET).
    BodySink* sink = nullptr;
    if (config_.body_sinks != nullptr) {
      sink = config_.body_sinks->open_body(envelope_without_body());
      if (sink == nullptr) {
        bdat_discard_ = true;
        bdat_discard_left_ = *size;
        bdat_refusal_ = format_reply(451, "4.3.0", "Error: queue file write error");
        bdat_refusal_counts_ = true;
        bdat_return_ = state_;
        enter_state(State::kBdat);
        return;
      }
    }
    streamed_ = sink != nullptr;
    const bool binary = tx_.params.body == mail::BodyType::kBinaryMime;
    bdat_ = std::make_unique<BdatReceiver>(config_.max_message_size, binary,
                                           tx_.params.size.value_or(0), sink);
  }
  tx_.bdat = true;
  bdat_discard_ = false;
  bdat_->start_chunk(*size, last);
  enter_state(State::kBdat);
}

void ServerSession::process_bdat(Actions& out) {
  if (bdat_discard_) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(bdat_discard_left_, input_.size()));
    input_.remove_prefix(n);
    bdat_discard_left_ -= n;
    if (bdat_discard_left_ > 0) return;
    bdat_discard_ = false;
    enter_state(bdat_return_);
    reply(out, std::exchange(bdat_refusal_, std::string()), bdat_refusal_counts_);
    return;
  }
  input_.remove_prefix(bdat_->feed(input_));
  if (!bdat_->chunk_complete()) return;
  if (auto err = bdat_->error()) {
    // §2: the transaction has failed; later chunks meet 503 (kReady).
    spdlog::info("smtp session {} message rejected: {} octets in BDAT, {}", config_.session_id,
                 bdat_->received(), error_reply(*err).substr(0, 9));
    reset_transaction();
    bdat_failed_ = true;
    enter_state(State::kReady);
    reply(out, std::string(error_reply(*err)), true);
    return;
  }
  if (!bdat_->last()) {
    enter_state(State::kRcpt);
    reply(out,
          format_reply(250, "2.0.0", fmt::format("Ok: {} octets received", bdat_->chunk_size())),
          false);
    return;
  }
  spdlog::info("smtp session {} BDAT LAST: {} chunks, {} octets{}", config_.session_id,
               bdat_->chunks(), bdat_->received(),
               tx_.params.body == mail::BodyType::kBinaryMime ? " BINARYMIME" : "");
  Deliver d = take_delivery();
  Envelope& env = d.envelope;
  env.lines = bdat_->lines();
  env.streamed = streamed_;
  env.body = bdat_->take_body();
  bdat_.reset();
  enter_state(State::kDelivering);
  out.emplace_back(std::move(d));
}

}  // namespace tegami::smtp
