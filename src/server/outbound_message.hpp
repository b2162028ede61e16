// OutboundMessage: a queued message as the delivery agent sends it (issue
// 13: sent from its file in pieces, never read whole into memory).
//
// scan_outbound() reads the file once, in kOutboundPiece pieces, for what
// the SMTP client must know before it starts: the size of the canonical
// form (the one "BDAT <n> LAST" chunk, RFC 3030 §2) and whether the header
// section holds octets above 127 (RFC 6531 §3.2: only for an SMTPUTF8
// server). The file does not change afterwards (queued messages are
// immutable), so sending it later produces exactly bdat_size octets; the
// sender checks that and drops the connection if it ever differs.
//
// read_header_section(): the header section for a DSN (RFC 3462
// text/rfc822-headers), at most `limit` octets, cut at a line end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "store/queue_store.hpp"

namespace tegami::server {

inline constexpr std::size_t kOutboundPiece = 64 * 1024;

struct OutboundMessage {
  std::shared_ptr<const QueuedMessage> file;
  // Header fields sent in front of the file (CRLF lines): the DKIM-Signature
  // (issue 17), "" when the message is not signed.
  std::string prefix;
  std::uint64_t bdat_size = 0;  // octets of the canonical form (prefix included)
  bool utf8_headers = false;    // an octet above 127 in the header section
};

class DkimSigning;

// With `signing`: the message is also DKIM-signed when its From: domain has
// a key (`now`: the signature's t=).
Result<OutboundMessage> scan_outbound(std::shared_ptr<const QueuedMessage> file,
                                      DkimSigning* signing = nullptr, std::int64_t now = 0);

Result<std::string> read_header_section(const QueuedMessage& file, std::size_t limit);

}  // namespace tegami::server
