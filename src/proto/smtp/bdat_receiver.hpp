// The BDAT (RFC 3030 CHUNKING) receiver (DESIGN rule 1): counts the octets
// of each chunk, normalises line endings of text messages and caps the size.
// A separate type from DataReceiver: BDAT has no terminator and no
// transparency dots, so nothing in a chunk can ever end the message early or
// be read as a command (the session reads exactly chunk-size octets).
//
// Output (issue 13): with a BodySink, the message streams into it in pieces
// of at most kSinkChunk octets as the chunks arrive (the rest after the
// LAST chunk), and the sink is abandoned the moment the message fails or is
// given up (abandon()); without one (unit tests, fuzzing) it is appended to
// an internal std::string taken with take_body() after the LAST chunk. The
// stored form is the one DATA gives
// (Envelope::body: lines ending CRLF), so the driver, the Maildir writer
// (CRLF -> LF) and the queue treat both alike:
//  - text (7BIT, 8BITMIME): CRLF ends a line; a bare LF ends a line too and
//    is stored as CRLF (as DATA does with bare LF, CHECKLIST "normalize");
//    a bare CR (CR not followed by LF, also across chunks or at the very
//    end) fails the message (554 5.6.0): the Maildir's LF convention cannot
//    keep it apart from a line end; lines over kMaxTextLine fail it too, and
//    so does a NUL octet (issue 14: text has none, RFC 5322 §2.3, and a next
//    hop that drops NUL could be made to see an end of data);
//  - BINARYMIME (RFC 3030 §3): octets are kept as sent, no line rules, NUL
//    allowed (such mail is only ever delivered locally).
// A message without a final line end is stored as it is (Maildir and the
// outbound encoders complete the last line).
//
// Invariants:
//  - feed() consumes at most the octets left in the current chunk, whatever
//    the split of the input; a chunk of 0 octets is complete at once;
//  - errors are sticky and reported when the chunk that caused them is
//    complete (RFC 3030 §2: the octets are read before the 5xx reply);
//  - memory: with a sink, at most about kSinkChunk octets are held; without
//    one the body never exceeds max_size; once the message is over it,
//    storing stops and the rest is only counted (552 5.3.4).
//
// RFC 3030 §2 (BDAT, chunk-size counts every octet), §3 (BINARYMIME), RFC
// 5321 §2.3.8 (CRLF), §4.5.3.1.6 (1000-octet lines), RFC 1870 (size).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tegami::smtp {

class BodySink;

enum class BdatErrorKind {
  kTooBig,       // 552 5.3.4
  kLineTooLong,  // 554 5.6.0
  kBareCr,       // 554 5.6.0
  kNul,          // 554 5.6.0 (text only)
};

std::string_view error_reply(BdatErrorKind kind);

class BdatReceiver {
 public:
  // `max_size`: the largest message accepted (octets as stored).
  // `binary`: BODY=BINARYMIME (octets kept as sent, no line rules).
  // `expected_size`: the client's SIZE= hint, used only to reserve memory.
  BdatReceiver(std::uint64_t max_size, bool binary, std::uint64_t expected_size = 0,
               BodySink* sink = nullptr);

  // Starts a chunk of `octets`. When it would take the message over
  // max_size the message is failed (kTooBig) and the chunk only counted.
  void start_chunk(std::uint64_t octets, bool last);

  // Consumes up to the octets left in the chunk; returns how many.
  std::size_t feed(std::string_view bytes);

  bool chunk_complete() const { return left_ == 0; }
  bool last() const { return last_; }
  std::uint64_t chunk_size() const { return chunk_size_; }
  // Octets received so far in all chunks (the chunk-size sum).
  std::uint64_t received() const { return received_; }
  std::uint64_t chunks() const { return chunks_; }  // chunks started so far
  std::uint64_t size() const { return size_; }      // octets as stored (or counted)
  std::uint64_t lines() const { return lines_; }
  // The message's error once the current chunk is complete (and, for a bare
  // CR at the very end, once the LAST chunk is).
  std::optional<BdatErrorKind> error() const;

  // After the LAST chunk without an error: the message (empty with a sink,
  // which by then has received all of it).
  std::string take_body();
  // The transaction ends without the message (RSET, a new MAIL, the end of
  // the connection): the sink may drop what it wrote. Idempotent.
  void abandon(std::string_view why = "the transaction ended");

 private:
  void store(std::string_view bytes);
  void end_line();
  void fail(BdatErrorKind kind);
  void flush();  // body_ into the sink

  std::uint64_t max_size_;
  bool binary_;
  std::string body_;
  std::uint64_t left_ = 0;
  std::uint64_t chunk_size_ = 0;
  bool last_ = false;
  std::uint64_t received_ = 0;
  std::uint64_t chunks_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t lines_ = 0;
  std::size_t line_length_ = 0;  // octets of the current line without its line end
  bool cr_ = false;              // text: the last octet was a CR (its LF may come next)
  std::optional<BdatErrorKind> error_;
  BodySink* sink_ = nullptr;
  bool abandoned_ = false;
};

}  // namespace tegami::smtp
