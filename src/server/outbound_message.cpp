#include "server/outbound_message.hpp"

#include <algorithm>
#include <string_view>

#include "proto/smtp/data_encoder.hpp"
#include "server/dkim_signing.hpp"

namespace tegami::server {

Result<OutboundMessage> scan_outbound(std::shared_ptr<const QueuedMessage> file,
                                      DkimSigning* signing, std::int64_t now) {
  OutboundMessage m;
  if (signing != nullptr) {
    auto field = signing->sign(*file, now);
    if (!field) return fail(field.error());
    m.prefix = std::move(*field);
  }
  smtp::WireEncoder counter(smtp::WireEncoder::Mode::kBdat);
  std::string piece(kOutboundPiece, '\0');
  std::uint64_t offset = 0;
  bool in_header = true;
  std::size_t line_length = 0;  // header: octets of the current line, CR not counted
  for (;;) {
    auto got = file->read(offset, piece.data(), piece.size());
    if (!got) return fail(got.error());
    if (*got == 0) break;
    std::string_view data(piece.data(), *got);
    offset += *got;
    counter.encode(data, nullptr);
    for (std::size_t i = 0; in_header && i < data.size(); ++i) {
      auto c = static_cast<unsigned char>(data[i]);
      if (c == '\n') {
        if (line_length == 0) in_header = false;  // the empty line ends the header
        line_length = 0;
      } else if (c != '\r') {
        ++line_length;
        if (c >= 0x80) m.utf8_headers = true;
      }
    }
  }
  counter.finish(nullptr);
  // The prefix is whole CRLF lines of ASCII: the same octets on the wire.
  m.bdat_size = counter.produced() + m.prefix.size();
  m.file = std::move(file);
  return m;
}

Result<std::string> read_header_section(const QueuedMessage& file, std::size_t limit) {
  std::string out;
  std::string piece(kOutboundPiece, '\0');
  std::uint64_t offset = 0;
  std::size_t line_start = 0;  // where the current line starts in `out`
  while (out.size() < limit) {
    auto got = file.read(offset, piece.data(), std::min(piece.size(), limit - out.size()));
    if (!got) return fail(got.error());
    if (*got == 0) return out;  // a message that is all header
    offset += *got;
    std::size_t scan = out.size();
    out.append(piece.data(), *got);
    for (std::size_t i = scan; i < out.size(); ++i) {
      if (out[i] != '\n') continue;
      std::string_view line(out.data() + line_start, i - line_start);
      if (line.empty() || line == "\r") {
        out.resize(line_start);  // the header ends before the empty line
        return out;
      }
      line_start = i + 1;
    }
  }
  out.resize(line_start);  // over the limit: the complete lines only
  return out;
}

}  // namespace tegami::server
