// DKIM canonicalisation (RFC 6376 §3.4) and the streaming split of a
// message into header fields and body, shared by the verifier and the
// signer (src/dkim/). Pure: no crypto, no I/O.
//
// Line endings: the SMTP intake hands over CRLF, files and tests often LF.
// Both are read as one line break everywhere here (a lone LF counts as
// CRLF, a CR not followed by LF is an ordinary octet), so a message signed
// with CRLF verifies from an LF copy and the other way round.
//
// MessageReader: feed(bytes) any number of times, then finish(). The header
// block (up to the first empty line) is kept, at most kMaxHeaderBlock
// octets; the body is never kept: each body piece is handed to the
// callback as it arrives (with the LF -> CRLF reading applied).
//
// BodyCanonicalizer (§3.4.3 simple, §3.4.4 relaxed): turns body pieces into
// canonical body octets, incrementally. It holds back only what it cannot
// decide yet: a run of empty lines (as a count) that vanishes if the body
// ends there, the whitespace at the end of a relaxed line (as a flag), and
// a CR that may begin a CRLF. Memory is O(1) whatever the body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mailauth/dkim_signature.hpp"

namespace tegami::mailauth {

// One header field as it appeared: `raw` is the whole field with its
// folding, line breaks made CRLF, including the final CRLF.
struct RawHeaderField {
  std::string name;  // as written (without the colon and trailing WSP)
  std::string raw;
  // The value: everything after the colon, folding kept, final CRLF dropped.
  std::string_view value() const;
};

// §3.4.1: the field unchanged. §3.4.2: lower-case name, unfolded, WSP runs
// to one SP, WSP at the ends of the value and around the colon removed.
// Both end in CRLF.
std::string canon_header(DkimCanon c, const RawHeaderField& f);
// The DKIM-Signature field under verification or being signed (§3.7): its
// b= value removed, canonicalised, without the final CRLF.
std::string canon_signature_field(DkimCanon c, const RawHeaderField& f);

// The header data of §3.7 step 1-2 minus the signature field: for each
// name of h= in order, the bottom-most field of that name not used yet,
// canonicalised; a name with no field left contributes nothing (§5.4.2:
// that is how "oversigning" forbids adding one).
std::string canon_selected_headers(DkimCanon c, const std::vector<RawHeaderField>& fields,
                                   const std::vector<std::string>& names);

class BodyCanonicalizer {
 public:
  // Receives canonical octets, in pieces of at most about kFlushAt.
  using Sink = std::function<void(std::string_view)>;
  static constexpr std::size_t kFlushAt = 16 * 1024;
  BodyCanonicalizer(DkimCanon c, Sink sink) : canon_(c), sink_(std::move(sink)) {}
  // Passes on the canonical octets `in` makes certain.
  void feed(std::string_view in);
  // End of body: passes on what is left (a final CRLF for an unterminated
  // line; "\r\n" for an empty body in simple, §3.4.3).
  void finish();

 private:
  void end_line();
  void content(char c);
  void put(std::string_view s);
  void flush();
  DkimCanon canon_;
  Sink sink_;
  std::string buf_;
  bool pending_cr_ = false;   // a CR was the last octet seen
  bool line_empty_ = true;    // nothing emitted on the current line
  bool pending_wsp_ = false;  // relaxed: WSP seen since the last emitted octet
  bool any_output_ = false;
  std::uint64_t empty_lines_ = 0;  // empty lines held back
};

class MessageReader {
 public:
  // The header block is kept up to this size (field count is bounded too);
  // beyond, `header_overflow()` and the fields are dropped (a hostile or
  // broken message: DKIM on it is not attempted).
  static constexpr std::size_t kMaxHeaderBlock = 1024 * 1024;
  static constexpr std::size_t kMaxFields = 10'000;

  using BodySink = std::function<void(std::string_view)>;
  explicit MessageReader(BodySink on_body) : on_body_(std::move(on_body)) {}

  void feed(std::string_view bytes);
  void finish();

  bool header_done() const { return header_done_; }
  bool header_overflow() const { return overflow_; }
  const std::vector<RawHeaderField>& fields() const { return fields_; }

 private:
  void end_of_header();
  BodySink on_body_;
  std::string block_;  // header block so far, CRLF line breaks
  bool header_done_ = false;
  bool overflow_ = false;
  bool last_cr_ = false;     // header: previous octet was CR
  int line_len_ = 0;         // header: octets on the current line (capped)
  std::size_t dropped_ = 0;  // header octets not kept (overflow)
  std::vector<RawHeaderField> fields_;
};

}  // namespace tegami::mailauth
