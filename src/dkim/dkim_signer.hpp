// DkimSigner: makes the DKIM-Signature field for a message (RFC 6376 §5),
// fed like the verifier: the message in pieces of any size, then finish().
// The body is canonicalised and hashed as it streams; only the header
// block is kept (bounded, MessageReader).
//
//   DkimSigner s({.domain = "example.com", .selector = "tegami202612",
//                 .key = key, .timestamp = now});
//   s.feed(piece); ...; s.finish();
//   auto field = s.signature_field();  // "DKIM-Signature: ...\r\n": prepend it
//
// What it signs: relaxed/relaxed (robust against the re-folding and
// whitespace changes relays make), rsa-sha256 or ed25519-sha256 as the key
// says, t= (and x= if asked), the whole body (no l=). h= lists each name of
// `headers` as many times as it occurs, and the names of `oversign` once
// more (RFC 6376 §5.4.2, §8.15): a verifier then treats the extra entry as
// an empty field, so a second From added in transit breaks the signature.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "dkim/dkim_crypto.hpp"
#include "mailauth/dkim_canon.hpp"

namespace tegami::dkim {

// From, To, Cc, Subject, Date, Message-ID, Reply-To, In-Reply-To,
// References, MIME-Version, Content-Type, Content-Transfer-Encoding,
// Content-Disposition, Sender, List-Unsubscribe, List-Unsubscribe-Post,
// Resent-* (RFC 6376 §5.4.1 "SHOULD" list, minus trace fields).
const std::vector<std::string>& default_signed_headers();

struct DkimSignOptions {
  std::string domain;    // d=
  std::string selector;  // s=
  PrivateKey key;
  std::int64_t timestamp = 0;                // t=
  std::optional<std::int64_t> expire_after;  // x= t + this
  std::string identity;                      // i=; "" leaves it out (it is @d)
  std::vector<std::string> headers = default_signed_headers();
  std::vector<std::string> oversign = {"from"};
  // l= with the canonical body length at signing time. Off by default:
  // content appended later (a list footer) is then unsigned, which
  // verifiers report (RFC 6376 §8.2); tests use it.
  bool body_length = false;
};

class DkimSigner {
 public:
  explicit DkimSigner(DkimSignOptions options);
  DkimSigner(const DkimSigner&) = delete;
  DkimSigner& operator=(const DkimSigner&) = delete;

  void feed(std::string_view bytes);
  void finish();
  // After finish(): the whole field, folded, CRLF line ends, final CRLF.
  Result<std::string> signature_field();

 private:
  DkimSignOptions options_;
  Hasher body_hash_;
  std::uint64_t body_octets_ = 0;
  mailauth::BodyCanonicalizer canon_;
  mailauth::MessageReader reader_;
  bool finished_ = false;
};

}  // namespace tegami::dkim
