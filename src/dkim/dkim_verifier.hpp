// DkimVerifier: checks the DKIM-Signature fields of a message (RFC 6376
// §6, RFC 8463, RFC 8301) as it streams by, sans-I/O like SpfCheck
// (mailauth/spf.hpp): it never looks anything up itself.
//
//   DkimVerifier v({.now = unix_time});
//   v.feed(piece); ...                 // the message as it arrives, any split
//   for (auto& name : v.key_queries())  // known once v.header_done()
//     v.feed_key(name, lookup_txt(name));  // may run while the body streams
//   v.finish();
//   for (auto& r : v.results()) add_auth_results(auth_results_dkim(r));
//
// Streaming: the header block is kept (bounded, MessageReader); the body is
// not. At the end of the header each signature is parsed, its header data
// (§3.7) computed, and a body hasher set up for each distinct
// (canonicalisation, hash, l=) it needs; body pieces then go through the
// canonicalisers into the hashes and are forgotten.
//
// Limits, for hostile mail: the first kMaxReported DKIM-Signature fields
// get a result (later ones are only counted in signatures_ignored()); of
// those, only the first `max_signatures` well-formed ones are checked (key
// lookup, hashing, crypto), later ones are `neutral` ("not checked").
//
// Results (RFC 8601 §2.7.1), each with a reason:
//   pass       valid signature, whole body covered, rsa-sha256 or
//              ed25519-sha256, key of 1024+ bits
//   fail       body hash mismatch, or the signature does not verify
//   policy     valid but not acceptable: rsa-sha1 (RFC 8301 §3.1), RSA key
//              under 1024 bits (RFC 8301 §3.2) or over 8192, or l= leaving
//              part of the body unsigned (RFC 6376 §8.2; DkimOutcome has
//              the counts)
//   neutral    not checked (beyond the signature limit)
//   temperror  key lookup failed temporarily (or was never answered)
//   permerror  malformed signature, bad/revoked/mismatched key record, no
//              key record, expired (x=), from the future (t=), l= longer
//              than the body
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dkim/dkim_crypto.hpp"
#include "mailauth/dkim_canon.hpp"
#include "mailauth/dkim_signature.hpp"
#include "mailauth/spf.hpp"  // DnsAnswer, DnsRcode

namespace tegami::dkim {

struct DkimVerifyOptions {
  std::int64_t now = 0;            // seconds since the epoch
  std::int64_t clock_skew = 300;   // allowance for t= in the future
  std::size_t max_signatures = 5;  // signatures checked per message
};

class DkimVerifier {
 public:
  static constexpr std::size_t kMaxReported = 10;
  static constexpr std::size_t kMaxKeyRecords = 8;  // TXT records examined per key name
  static constexpr int kMinRsaBits = 1024;          // RFC 8301 §3.2
  static constexpr int kMaxRsaBits = 8192;

  explicit DkimVerifier(DkimVerifyOptions options);
  DkimVerifier(const DkimVerifier&) = delete;
  DkimVerifier& operator=(const DkimVerifier&) = delete;
  ~DkimVerifier();

  // The message, in pieces of any size (CRLF or LF line ends).
  void feed(std::string_view bytes);
  // The end of the message.
  void finish();

  bool header_done() const { return setup_; }
  // The TXT names to look up ("selector._domainkey.domain"), each once;
  // empty until header_done().
  std::vector<std::string> key_queries() const;
  // The answer for one of key_queries(); other names are ignored.
  void feed_key(std::string_view name, const mailauth::DnsAnswer& answer);

  // After finish(): one outcome per reported signature, in header order
  // (top first). A key never fed is a temperror.
  const std::vector<mailauth::DkimOutcome>& results();
  std::size_t signatures_ignored() const { return ignored_; }
  // Why nothing was checked ("header block too large"), or "".
  const std::string& problem() const { return problem_; }

 private:
  struct Body;
  struct Sig {
    mailauth::DkimOutcome out;
    std::optional<mailauth::DkimSignature> sig;  // nullopt: decided already
    std::string header_data;
    Body* body = nullptr;
  };
  void setup();
  void on_body(std::string_view bytes);
  void decide(Sig& s);

  DkimVerifyOptions options_;
  mailauth::MessageReader reader_;
  bool setup_ = false;
  bool finished_ = false;
  bool evaluated_ = false;
  std::vector<Sig> sigs_;
  std::vector<std::unique_ptr<Body>> bodies_;
  std::map<std::string, mailauth::DnsAnswer, std::less<>> keys_;
  std::vector<mailauth::DkimOutcome> results_;
  std::size_t ignored_ = 0;
  std::string problem_;
};

}  // namespace tegami::dkim
