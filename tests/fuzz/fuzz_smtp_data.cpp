// libFuzzer target: the DATA receiver. Checks the stored body (only CRLF line
// endings, within the size limit), exact consumption, and that the result
// does not depend on how the input is split.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/smtp/data_receiver.hpp"

using namespace tegami::smtp;

namespace {

struct Outcome {
  int result = -1;  // -1 need more, 0 complete, 1 + DataErrorKind
  std::size_t consumed = 0;
  std::string body;
  bool operator==(const Outcome&) const = default;
};

Outcome run(std::string_view input, std::size_t chunk, std::uint64_t max) {
  DataReceiver d(max);
  Outcome o;
  while (!input.empty()) {
    std::string_view piece = input.substr(0, chunk);
    DataFeed f = d.feed(piece);
    if (f.consumed > piece.size()) std::abort();
    o.consumed += f.consumed;
    input.remove_prefix(f.consumed);
    if (std::holds_alternative<NeedMore>(f.result)) {
      if (f.consumed != piece.size()) std::abort();
      continue;
    }
    if (std::holds_alternative<DataComplete>(f.result)) {
      o.result = 0;
      o.body = d.take_body();
      if (o.body.size() > max) std::abort();
      if (o.body.size() != d.size()) std::abort();
      for (std::size_t i = 0; i < o.body.size(); ++i) {
        if (o.body[i] == '\r' && (i + 1 == o.body.size() || o.body[i + 1] != '\n')) std::abort();
        if (o.body[i] == '\n' && (i == 0 || o.body[i - 1] != '\r')) std::abort();
      }
      if (!o.body.empty() && !o.body.ends_with("\r\n")) std::abort();
    } else {
      o.result = 1 + static_cast<int>(std::get<DataError>(f.result).kind);
    }
    return o;
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::size_t chunk = 1 + data[0] % 13;
  std::uint64_t max = 16 + static_cast<std::uint64_t>(data[1]) * 16;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  Outcome whole = run(input, input.size() + 1, max);
  Outcome split = run(input, chunk, max);
  if (!(whole == split)) std::abort();
  return 0;
}
