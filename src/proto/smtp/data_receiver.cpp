#include "proto/smtp/data_receiver.hpp"

#include <algorithm>

namespace tegami::smtp {

std::string_view error_reply(DataErrorKind kind) {
  switch (kind) {
    case DataErrorKind::kBareLineEnding:
      return "550 5.5.2 Error: bare <CR> or <LF> received\r\n";
    case DataErrorKind::kLineTooLong:
      return "554 5.6.0 Error: message has a line longer than 1000 octets\r\n";
    case DataErrorKind::kNul:
      return "554 5.6.0 Error: message contains a NUL octet\r\n";
    case DataErrorKind::kTooBig:
    case DataErrorKind::kTooBigDrop:
      return "552 5.3.4 Error: message size exceeds fixed maximum message size\r\n";
  }
  return "554 5.6.0 Error\r\n";
}

bool error_drops(DataErrorKind kind) {
  return kind == DataErrorKind::kBareLineEnding || kind == DataErrorKind::kTooBigDrop;
}

DataReceiver::DataReceiver(std::uint64_t max_size, std::uint64_t expected_size,
                           bool bare_lf_ends_line, BodySink* sink)
    : max_size_(max_size), hard_limit_(max_size), bare_lf_(bare_lf_ends_line), sink_(sink) {
  std::uint64_t allowance = std::max(max_size, kMinDiscardAllowance);
  hard_limit_ = (max_size > UINT64_MAX - allowance) ? UINT64_MAX : max_size + allowance;
  // Reserve for the announced size (RFC 1870), never beyond the limit (or
  // one sink chunk when streaming).
  std::uint64_t reserve = std::min(expected_size, max_size);
  if (sink_ != nullptr) reserve = kSinkChunk;
  if (reserve > 0) body_.reserve(static_cast<std::size_t>(reserve));
}

void DataReceiver::stop_storing() {
  std::string().swap(body_);  // give the memory back
  if (sink_ != nullptr)
    sink_->abandon(nul_ && !too_big_ && !line_too_long_
                       ? "NUL octet in the message, discarding to the end of DATA"
                       : "over a limit, discarding to the end of DATA");
}

void DataReceiver::store(std::string_view bytes) {
  if (sink_ == nullptr) {
    body_.append(bytes);
    return;
  }
  // Streaming: the buffer never grows past kSinkChunk (no reallocation).
  if (body_.size() + bytes.size() > kSinkChunk && !body_.empty()) {
    sink_->write(body_);
    body_.clear();
  }
  if (bytes.size() >= kSinkChunk) {
    sink_->write(bytes);
    return;
  }
  body_.append(bytes);
}

void DataReceiver::append(std::string_view bytes) {
  size_ += bytes.size();
  line_length_ += bytes.size();
  const bool was_storing = storing();
  if (line_length_ + 2 > kMaxTextLine) line_too_long_ = true;
  if (size_ > max_size_) too_big_ = true;
  if (!nul_ && bytes.find('\0') != std::string_view::npos) nul_ = true;
  if (storing()) {
    store(bytes);
  } else if (was_storing) {
    stop_storing();
  }
}

void DataReceiver::end_line() {
  size_ += 2;
  ++lines_;
  line_length_ = 0;
  const bool was_storing = storing();
  if (size_ > max_size_) too_big_ = true;
  if (storing()) {
    store("\r\n");
  } else if (was_storing) {
    stop_storing();
  }
}

void DataReceiver::next_line(bool by_crlf) {
  end_line();
  if (!by_crlf) ++bare_lfs_;
  line_after_crlf_ = by_crlf;
  pos_ = Pos::kLineStart;
}

DataFeed DataReceiver::feed(std::string_view bytes) {
  std::size_t i = 0;
  auto bare = [&](std::size_t consumed) {
    return DataFeed{consumed, DataError{DataErrorKind::kBareLineEnding}};
  };
  while (i < bytes.size()) {
    char c = bytes[i];
    switch (pos_) {
      case Pos::kLineStart:
        if (c == '.') {
          pos_ = Pos::kDot;
          ++i;
          continue;
        }
        pos_ = Pos::kInLine;
        continue;  // handle c as line content
      case Pos::kDot:
        if (c == '\r') {
          pos_ = Pos::kDotCr;
          ++i;
          continue;
        }
        if (c == '\n') {
          // ".\n": never the terminator; with normalize a content line ".".
          if (!bare_lf_) return bare(i + 1);
          append(".");
          next_line(false);
          ++i;
          if (size_ > hard_limit_) return {i, DataError{DataErrorKind::kTooBigDrop}};
          continue;
        }
        // RFC 5321 §4.5.2: the leading dot of a line with more on it is deleted.
        pos_ = Pos::kInLine;
        continue;
      case Pos::kDotCr:
        if (c != '\n') return bare(i);  // ".\r" then not LF: a bare CR
        if (!line_after_crlf_) {
          // "\n.\r\n": the dot line did not start after a CRLF: content.
          append(".");
          next_line(true);
          ++i;
          if (size_ > hard_limit_) return {i, DataError{DataErrorKind::kTooBigDrop}};
          continue;
        }
        if (too_big_) return {i + 1, DataError{DataErrorKind::kTooBig}};
        if (line_too_long_) return {i + 1, DataError{DataErrorKind::kLineTooLong}};
        if (nul_) return {i + 1, DataError{DataErrorKind::kNul}};
        if (sink_ != nullptr && !body_.empty()) {
          sink_->write(body_);
          body_.clear();
        }
        return {i + 1, DataComplete{}};
      case Pos::kCr:
        if (c != '\n') return bare(i);
        next_line(true);
        ++i;
        if (size_ > hard_limit_) return {i, DataError{DataErrorKind::kTooBigDrop}};
        continue;
      case Pos::kInLine: {
        auto* begin = bytes.data() + i;
        auto* end = bytes.data() + bytes.size();
        auto* stop = std::find_if(begin, end, [](char ch) { return ch == '\r' || ch == '\n'; });
        auto run = static_cast<std::size_t>(stop - begin);
        if (run > 0) {
          // Stop exactly at the first octet past the hard limit, so the result
          // does not depend on how the input was split.
          std::uint64_t room = hard_limit_ - size_;  // size_ <= hard_limit_ here
          if (run > room) run = static_cast<std::size_t>(room) + 1;
          append(std::string_view(begin, run));
          i += run;
          if (size_ > hard_limit_) return {i, DataError{DataErrorKind::kTooBigDrop}};
          continue;
        }
        if (c == '\n') {
          if (!bare_lf_) return bare(i + 1);
          next_line(false);
          ++i;
          if (size_ > hard_limit_) return {i, DataError{DataErrorKind::kTooBigDrop}};
          continue;
        }
        pos_ = Pos::kCr;  // c == '\r'
        ++i;
        continue;
      }
    }
  }
  return {i, NeedMore{}};
}

}  // namespace tegami::smtp
