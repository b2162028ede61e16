// libFuzzer target: the DKIM pure layer (mailauth/dkim_*.hpp) must take any
// bytes without crashing, looping or growing without bound. The input is
// read three ways: as a DKIM-Signature value (and its b= stripped), as a
// key record, and as a whole message through the MessageReader into both
// body canonicalisers, fed whole and in 7-octet pieces, which must agree.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailauth/dkim_canon.hpp"
#include "mailauth/dkim_signature.hpp"

using namespace tegami::mailauth;

namespace {

struct Read {
  std::string headers;  // both canonical forms of every field
  std::string simple, relaxed;
};

Read read(std::string_view in, std::size_t piece) {
  Read r;
  BodyCanonicalizer simple(DkimCanon::kSimple, [&](std::string_view s) { r.simple.append(s); });
  BodyCanonicalizer relaxed(DkimCanon::kRelaxed, [&](std::string_view s) { r.relaxed.append(s); });
  MessageReader m([&](std::string_view b) {
    simple.feed(b);
    relaxed.feed(b);
  });
  for (std::size_t i = 0; i < in.size(); i += piece) m.feed(in.substr(i, piece));
  m.finish();
  simple.finish();
  relaxed.finish();
  for (const auto& f : m.fields()) {
    r.headers += canon_header(DkimCanon::kSimple, f);
    r.headers += canon_header(DkimCanon::kRelaxed, f);
    if (f.name.size() == 14) r.headers += canon_signature_field(DkimCanon::kRelaxed, f);
  }
  r.headers += canon_selected_headers(DkimCanon::kRelaxed, m.fields(), {"from", "subject", "from"});
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::string why;
  DkimSignature partial;
  auto sig = parse_dkim_signature(in, &why, &partial);
  if (!sig && why.empty()) __builtin_trap();
  if (sig) {
    if (sig->headers.size() > kMaxSignedHeaders) __builtin_trap();
    (void)check_signature_times(*sig, 1'700'000'000, 300);
    if (sig->key_name().size() > 253) __builtin_trap();
  }
  std::string stripped = strip_b_value(in);
  if (stripped.size() > in.size()) __builtin_trap();
  (void)parse_dkim_key_record(in, &why);

  DkimOutcome o;
  o.result = DkimResult::kPermError;
  o.reason = why;
  o.domain = partial.domain;
  o.identity = partial.identity;
  std::string ar = auth_results_dkim(o);
  for (char c : ar)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
      __builtin_trap();

  Read whole = read(in, in.size() + 1);
  Read pieces = read(in, 7);
  if (whole.simple != pieces.simple || whole.relaxed != pieces.relaxed ||
      whole.headers != pieces.headers)
    __builtin_trap();
  // Relaxed bodies never end in an empty line and never hold WSP before CRLF.
  const std::string& b = whole.relaxed;
  if (b.size() >= 4 && b.compare(b.size() - 4, 4, "\r\n\r\n") == 0) __builtin_trap();
  if (b.find(" \r\n") != std::string::npos || b.find("\t") != std::string::npos) __builtin_trap();
  return 0;
}
