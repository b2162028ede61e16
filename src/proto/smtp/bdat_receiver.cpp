#include "proto/smtp/bdat_receiver.hpp"

#include <algorithm>

#include "proto/smtp/data_receiver.hpp"  // kMaxTextLine

namespace tegami::smtp {

std::string_view error_reply(BdatErrorKind kind) {
  switch (kind) {
    case BdatErrorKind::kTooBig:
      return "552 5.3.4 Error: message size exceeds fixed maximum message size\r\n";
    case BdatErrorKind::kLineTooLong:
      return "554 5.6.0 Error: message has a line longer than 1000 octets\r\n";
    case BdatErrorKind::kBareCr:
      return "554 5.6.0 Error: bare <CR> in message content\r\n";
    case BdatErrorKind::kNul:
      return "554 5.6.0 Error: message contains a NUL octet\r\n";
  }
  return "554 5.6.0 Error\r\n";
}

BdatReceiver::BdatReceiver(std::uint64_t max_size, bool binary, std::uint64_t expected_size,
                           BodySink* sink)
    : max_size_(max_size), binary_(binary), sink_(sink) {
  std::uint64_t reserve = std::min(expected_size, max_size);
  if (sink_ != nullptr) reserve = std::min<std::uint64_t>(reserve, kSinkChunk);
  if (reserve > 0) body_.reserve(static_cast<std::size_t>(reserve));
}

void BdatReceiver::fail(BdatErrorKind kind) {
  if (error_) return;  // the first error is the one reported
  error_ = kind;
  std::string().swap(body_);  // stop storing and give the memory back
  abandon(kind == BdatErrorKind::kTooBig ? "over the size limit, reading the rest of BDAT"
                                         : "refused, reading the rest of BDAT");
}

void BdatReceiver::abandon(std::string_view why) {
  if (sink_ == nullptr || abandoned_) return;
  abandoned_ = true;
  body_.clear();
  sink_->abandon(why);
}

void BdatReceiver::flush() {
  if (sink_ == nullptr || abandoned_ || body_.empty()) return;
  sink_->write(body_);
  body_.clear();
}

std::string BdatReceiver::take_body() {
  flush();
  return std::move(body_);
}

void BdatReceiver::start_chunk(std::uint64_t octets, bool last) {
  ++chunks_;
  chunk_size_ = octets;
  left_ = octets;
  last_ = last;
  // The announced size alone shows an overrun: fail now and only count.
  if (octets > max_size_ || received_ > max_size_ - octets) fail(BdatErrorKind::kTooBig);
}

void BdatReceiver::store(std::string_view bytes) {
  if (bytes.empty()) return;
  if (!error_) {
    // The first rule broken, by octet position (so the error reported never
    // depends on how the octets were split into reads): the octet that takes
    // the message over max_size, a NUL (text), the octet that makes the
    // line longer than kMaxTextLine (text).
    constexpr auto kNone = std::string_view::npos;
    std::size_t too_big = kNone, nul = kNone, too_long = kNone;
    if (size_ + bytes.size() > max_size_)
      too_big = size_ >= max_size_ ? 0 : static_cast<std::size_t>(max_size_ - size_);
    if (!binary_) {
      nul = bytes.find('\0');
      if (line_length_ + bytes.size() + 2 > kMaxTextLine)
        too_long = line_length_ + 2 >= kMaxTextLine ? 0 : kMaxTextLine - 2 - line_length_;
    }
    const std::size_t first = std::min({too_big, nul, too_long});
    if (first != kNone) {
      fail(first == too_big ? BdatErrorKind::kTooBig
           : first == nul   ? BdatErrorKind::kNul
                            : BdatErrorKind::kLineTooLong);
    }
  }
  size_ += bytes.size();
  line_length_ += bytes.size();
  if (size_ > max_size_) fail(BdatErrorKind::kTooBig);
  if (!error_) {
    body_.append(bytes);
    if (body_.size() >= kSinkChunk) flush();
  }
}

void BdatReceiver::end_line() {
  size_ += 2;
  ++lines_;
  line_length_ = 0;
  if (size_ > max_size_) fail(BdatErrorKind::kTooBig);
  if (!error_) {
    body_.append("\r\n");
    if (body_.size() >= kSinkChunk) flush();
  }
}

std::size_t BdatReceiver::feed(std::string_view bytes) {
  auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, bytes.size()));
  std::string_view chunk = bytes.substr(0, n);
  left_ -= n;
  received_ += n;
  if (binary_) {
    store(chunk);
  } else if (error_ == BdatErrorKind::kTooBig) {
    // Only counted: nothing more can change the outcome.
  } else {
    std::size_t i = 0;
    // Once over the size limit nothing changes the outcome: stop at the same
    // octet whatever the reads, so lines() does not depend on the split.
    while (i < chunk.size() && error_ != BdatErrorKind::kTooBig) {
      char c = chunk[i];
      if (cr_) {
        cr_ = false;
        if (c == '\n') {
          end_line();
          ++i;
          continue;
        }
        fail(BdatErrorKind::kBareCr);
      }
      if (c == '\r') {
        cr_ = true;
        ++i;
        continue;
      }
      if (c == '\n') {  // a bare LF ends the line like CRLF
        end_line();
        ++i;
        continue;
      }
      auto stop = chunk.find_first_of("\r\n", i);
      if (stop == std::string_view::npos) stop = chunk.size();
      store(chunk.substr(i, stop - i));
      i = stop;
    }
  }
  // A CR as the very last octet of the message has no LF to come.
  if (left_ == 0 && last_ && cr_) {
    cr_ = false;
    fail(BdatErrorKind::kBareCr);
  }
  return n;
}

std::optional<BdatErrorKind> BdatReceiver::error() const {
  return error_;
}

}  // namespace tegami::smtp
