// libFuzzer target: the BDAT receiver (RFC 3030). Checks: feed() never takes
// more than the chunk's octets; the body stays within the size limit; a text
// body has only CRLF line endings; a BINARYMIME body is the octets sent; the
// result does not depend on how each chunk's octets are split into reads.
//
// Input: byte 0: read size (1 + x % 13) and bit 7 BINARYMIME; byte 1: the
// size limit (16 + 16 * x); then the message, cut into chunks at every 0xfe
// byte (the separator is not part of the message).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/smtp/bdat_receiver.hpp"

using namespace tegami::smtp;

namespace {

struct Outcome {
  std::optional<BdatErrorKind> error;
  std::string body;
  std::uint64_t lines = 0;
  bool operator==(const Outcome&) const = default;
};

Outcome run(const std::vector<std::string_view>& chunks, std::size_t read, std::uint64_t max,
            bool binary) {
  BdatReceiver r(max, binary);
  std::uint64_t total = 0;
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    std::string_view chunk = chunks[k];
    r.start_chunk(chunk.size(), k + 1 == chunks.size());
    // Bytes after the chunk (the next command) must never be taken.
    std::string with_tail = std::string(chunk) + "BDAT 1 LAST\r\n";
    std::string_view rest = with_tail;
    std::size_t taken = 0;
    while (taken < chunk.size()) {
      std::string_view piece = rest.substr(taken, read);
      std::size_t n = r.feed(piece);
      if (n > piece.size() || taken + n > chunk.size()) std::abort();
      if (n == 0) std::abort();
      taken += n;
    }
    if (!r.chunk_complete()) std::abort();
    if (r.feed(rest.substr(taken)) != 0) std::abort();
    total += chunk.size();
    if (r.received() != total) std::abort();
  }
  Outcome o;
  o.error = r.error();
  o.lines = r.lines();
  o.body = r.take_body();
  if (o.body.size() > max) std::abort();
  if (o.error && !o.body.empty()) std::abort();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::size_t read = 1 + (data[0] & 0x7f) % 13;
  bool binary = (data[0] & 0x80) != 0;
  std::uint64_t max = 16 + static_cast<std::uint64_t>(data[1]) * 16;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  std::vector<std::string_view> chunks;
  std::string message;
  for (std::size_t start = 0;;) {
    std::size_t sep = input.find('\xfe', start);
    std::string_view c = input.substr(start, sep == std::string_view::npos ? sep : sep - start);
    chunks.push_back(c);
    message += c;
    if (sep == std::string_view::npos) break;
    start = sep + 1;
  }
  Outcome a = run(chunks, read, max, binary);
  Outcome b = run(chunks, 1 << 20, max, binary);
  if (!(a == b)) std::abort();
  // Where the chunks are cut does not matter either: one chunk gives the same
  // message (when it fails, it fails too, maybe for another first reason).
  Outcome c = run({message}, 1 << 20, max, binary);
  if (a.error ? !c.error : !(a == c)) std::abort();
  if (!a.error) {
    if (binary) {
      if (a.body != message) std::abort();
    } else {
      for (std::size_t i = 0; i < a.body.size(); ++i) {
        if (a.body[i] == '\r' && (i + 1 == a.body.size() || a.body[i + 1] != '\n')) std::abort();
        if (a.body[i] == '\n' && (i == 0 || a.body[i - 1] != '\r')) std::abort();
      }
    }
  }
  return 0;
}
