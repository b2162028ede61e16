// DKIM (RFC 6376, RFC 8463, RFC 8301): the pure parts that need no crypto.
//
// - parse_tag_list(): the tag=value list of §3.2 (DKIM-Signature fields and
//   key records). A duplicate tag, a tag name that is not ALPHA *ALNUMPUNC,
//   or a value with characters outside VALCHAR/FWS is an error.
// - parse_dkim_signature(): a DKIM-Signature field value (§3.5) checked as
//   §6.1.1 asks: required tags, v=1, a known algorithm, a From in h=, i=
//   under d=, x= not before t=, base64 in b= and bh=. Time checks (x= in the
//   past, t= in the future) need "now" and live in check_signature_times().
// - parse_dkim_key_record(): a key record (§3.6.1): v=DKIM1 first if
//   present, k=, h=, s=, t= flags, p= (empty: revoked, §3.6.1).
// - strip_b_value(): the field value with b='s value removed (§3.7: "the
//   value of the b= tag (including all surrounding whitespace) deleted").
// - DkimOutcome and auth_results_dkim(): one signature's result and its
//   Authentication-Results resinfo (RFC 8601 §2.7.1: header.d, header.i,
//   header.s, header.a, header.b with the first 8 characters of b=).
//
// Limits (hostile input): h= lists at most kMaxSignedHeaders names, a field
// value at most kMaxFieldValue octets; beyond either, permerror.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tegami::mailauth {

struct DkimTag {
  std::string name;
  std::string value;  // FWS at both ends removed, inner FWS kept
};

// §3.2. nullopt with `why` set on a syntax error.
std::optional<std::vector<DkimTag>> parse_tag_list(std::string_view text, std::string* why);

enum class DkimAlgorithm { kRsaSha256, kRsaSha1, kEd25519Sha256 };
enum class DkimHash { kSha256, kSha1 };
enum class DkimKeyType { kRsa, kEd25519 };
enum class DkimCanon { kSimple, kRelaxed };

std::string_view to_string(DkimAlgorithm a);  // "rsa-sha256", "rsa-sha1", "ed25519-sha256"
std::string_view to_string(DkimCanon c);      // "simple", "relaxed"
DkimHash hash_of(DkimAlgorithm a);
DkimKeyType key_type_of(DkimAlgorithm a);

struct DkimSignature {
  DkimAlgorithm algorithm = DkimAlgorithm::kRsaSha256;
  std::string b;       // the signature, decoded
  std::string b_text;  // b= as written, FWS removed (for header.b)
  std::string bh;      // the body hash, decoded
  DkimCanon header_canon = DkimCanon::kSimple;
  DkimCanon body_canon = DkimCanon::kSimple;
  std::string domain;                      // d=, lower case
  std::vector<std::string> headers;        // h=, lower case, in order
  std::string identity;                    // i= as written, or "@" + d= when absent
  std::string identity_domain;             // the domain of i=, lower case
  std::optional<std::uint64_t> length;     // l= (values beyond 2^64-1 clamp)
  std::string selector;                    // s=, lower case
  std::optional<std::int64_t> timestamp;   // t=
  std::optional<std::int64_t> expiration;  // x=

  // The TXT name of the key record: "selector._domainkey.domain" (§3.6.2.1).
  std::string key_name() const { return selector + "._domainkey." + domain; }
};

inline constexpr std::size_t kMaxSignedHeaders = 128;  // h= entries (a bound, not an RFC limit)
inline constexpr std::size_t kMaxFieldValue = 65536;   // a DKIM-Signature value, octets

// Parses and checks a DKIM-Signature field value (unfolded or not). On an
// error, nullopt and `why` (for permerror reasons). Whatever could be read
// before the error (d=, s=, a=, i=, b=) is left in `partial` for the
// Authentication-Results properties.
std::optional<DkimSignature> parse_dkim_signature(std::string_view value, std::string* why,
                                                  DkimSignature* partial = nullptr);

// §3.5 x= and t=: "" when fine, else the permerror reason. A signature made
// more than `skew` seconds in the future is refused (§6.1.1 lets verifiers
// ignore those; RFC 6376 has no margin, we allow clock skew).
std::string check_signature_times(const DkimSignature& sig, std::int64_t now, std::int64_t skew);

struct DkimKeyRecord {
  DkimKeyType type = DkimKeyType::kRsa;
  std::vector<std::string> hashes;  // h=; empty: any
  std::string public_key;           // p=, decoded; empty: revoked
  bool testing = false;             // t=y
  bool strict = false;              // t=s: i= domain must equal d= (§3.6.1)
};

// §3.6.1. nullopt with `why` on a syntax error, an unknown k=, a service
// list without "email" or "*", or v= other than DKIM1.
std::optional<DkimKeyRecord> parse_dkim_key_record(std::string_view text, std::string* why);

// The field value with the b= value removed (the text between "b=" and the
// next ';' or the end), everything else kept byte for byte.
std::string strip_b_value(std::string_view value);

// Base64 in DKIM tags: FWS anywhere is ignored (§3.5 "b=... whitespace is
// ignored"). nullopt for anything else RFC 4648 rejects.
std::optional<std::string> decode_dkim_base64(std::string_view text);

// RFC 8601 §2.7.1 results for DKIM.
enum class DkimResult { kNone, kPass, kFail, kPolicy, kNeutral, kTempError, kPermError };
std::string_view to_string(DkimResult r);

struct DkimOutcome {
  DkimResult result = DkimResult::kNone;
  std::string reason;     // why (fail, policy, neutral, errors), "" for a plain pass
  std::string domain;     // header.d
  std::string identity;   // header.i
  std::string selector;   // header.s
  std::string algorithm;  // header.a
  std::string b_prefix;   // header.b: the first 8 characters of b=
  int key_bits = 0;       // RSA modulus size or 256 for ed25519; 0 unknown
  bool testing = false;   // the key record says t=y (RFC 6376 §3.6.1)
  // l= (RFC 6376 §8.2): the signature covers the first `signed_body` octets
  // of the canonical body only; `unsigned_body` octets follow unsigned.
  // With unsigned octets a valid signature is reported as `policy`, never
  // as `pass`: whatever was appended is not vouched for by the signer.
  std::optional<std::uint64_t> length;
  std::uint64_t body_length = 0;  // canonicalised body length seen
  std::uint64_t unsigned_body = 0;
};

// "dkim=pass (2048-bit rsa key) header.d=example.com header.i=@example.com
//  header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh"
std::string auth_results_dkim(const DkimOutcome& o);

}  // namespace tegami::mailauth
