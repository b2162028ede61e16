#include "dkim/dkim_verifier.hpp"

#include <algorithm>

namespace tegami::dkim {

using mailauth::DkimCanon;
using mailauth::DkimOutcome;
using mailauth::DkimResult;
using mailauth::DkimSignature;

struct DkimVerifier::Body {
  DkimCanon canon;
  DkimHash hash;
  std::optional<std::uint64_t> limit;
  Hasher hasher;
  mailauth::BodyCanonicalizer canonicalizer;
  std::uint64_t total = 0;   // canonical octets seen
  std::uint64_t hashed = 0;  // of which hashed (l=)
  std::string digest;

  Body(DkimCanon c, DkimHash h, std::optional<std::uint64_t> l)
      : canon(c), hash(h), limit(l), hasher(h), canonicalizer(c, [this](std::string_view s) {
          take(s);
        }) {}

  void take(std::string_view s) {
    total += s.size();
    if (limit) {
      std::uint64_t room = *limit - hashed;
      if (room < s.size()) s = s.substr(0, static_cast<std::size_t>(room));
    }
    hashed += s.size();
    hasher.update(s);
  }
};

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto l = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
           return l(x) == l(y);
         });
}

void fill_properties(DkimOutcome& out, const DkimSignature& s) {
  out.domain = s.domain;
  out.identity = s.identity;
  out.selector = s.selector;
  out.b_prefix = s.b_text.substr(0, 8);
}

}  // namespace

DkimVerifier::DkimVerifier(DkimVerifyOptions options)
    : options_(options), reader_([this](std::string_view b) { on_body(b); }) {}

DkimVerifier::~DkimVerifier() = default;

void DkimVerifier::feed(std::string_view bytes) {
  if (finished_) return;
  reader_.feed(bytes);
  if (reader_.header_done() && !setup_) setup();
}

void DkimVerifier::on_body(std::string_view bytes) {
  if (!setup_) setup();
  for (auto& b : bodies_) b->canonicalizer.feed(bytes);
}

void DkimVerifier::finish() {
  if (finished_) return;
  reader_.finish();
  if (!setup_) setup();
  for (auto& b : bodies_) {
    b->canonicalizer.finish();
    b->digest = b->hasher.final();
  }
  finished_ = true;
}

void DkimVerifier::setup() {
  setup_ = true;
  if (reader_.header_overflow()) {
    problem_ = "header block larger than " +
               std::to_string(mailauth::MessageReader::kMaxHeaderBlock) +
               " octets: DKIM not checked";
    return;
  }
  const auto& fields = reader_.fields();
  std::size_t checked = 0;
  for (const auto& f : fields) {
    if (!iequals(f.name, "DKIM-Signature")) continue;
    if (sigs_.size() >= kMaxReported) {
      ++ignored_;
      continue;
    }
    Sig s;
    std::string why;
    DkimSignature partial;
    auto parsed = mailauth::parse_dkim_signature(f.value(), &why, &partial);
    fill_properties(s.out, partial);
    if (parsed) s.out.algorithm = std::string(to_string(parsed->algorithm));
    if (!parsed) {
      s.out.result = DkimResult::kPermError;
      s.out.reason = why;
    } else if (checked >= options_.max_signatures) {
      s.out.result = DkimResult::kNeutral;
      s.out.reason =
          "not checked: more than " + std::to_string(options_.max_signatures) + " signatures";
    } else if (auto t = mailauth::check_signature_times(*parsed, options_.now, options_.clock_skew);
               !t.empty()) {
      s.out.result = DkimResult::kPermError;
      s.out.reason = t;
    } else {
      ++checked;
      s.out.length = parsed->length;
      s.header_data =
          mailauth::canon_selected_headers(parsed->header_canon, fields, parsed->headers);
      s.header_data += mailauth::canon_signature_field(parsed->header_canon, f);
      auto h = mailauth::hash_of(parsed->algorithm);
      for (auto& b : bodies_)
        if (b->canon == parsed->body_canon && b->hash == h && b->limit == parsed->length)
          s.body = b.get();
      if (!s.body) {
        bodies_.push_back(std::make_unique<Body>(parsed->body_canon, h, parsed->length));
        s.body = bodies_.back().get();
      }
      s.sig = std::move(parsed);
    }
    sigs_.push_back(std::move(s));
  }
}

std::vector<std::string> DkimVerifier::key_queries() const {
  std::vector<std::string> out;
  for (const auto& s : sigs_) {
    if (!s.sig) continue;
    auto n = s.sig->key_name();
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(std::move(n));
  }
  return out;
}

void DkimVerifier::feed_key(std::string_view name, const mailauth::DnsAnswer& answer) {
  for (const auto& s : sigs_) {
    if (s.sig && iequals(s.sig->key_name(), name)) {
      mailauth::DnsAnswer a = answer;
      if (a.txt.size() > kMaxKeyRecords) a.txt.resize(kMaxKeyRecords);
      keys_[s.sig->key_name()] = std::move(a);
      return;
    }
  }
}

void DkimVerifier::decide(Sig& s) {
  auto& out = s.out;
  const auto& sig = *s.sig;
  auto set = [&](DkimResult r, std::string why) {
    out.result = r;
    out.reason = std::move(why);
  };
  auto it = keys_.find(sig.key_name());
  if (it == keys_.end()) return set(DkimResult::kTempError, "key not looked up");
  const auto& answer = it->second;
  if (answer.rcode == mailauth::DnsRcode::kTempFail)
    return set(DkimResult::kTempError, "key lookup failed (DNS)");
  if (answer.rcode != mailauth::DnsRcode::kOk || answer.txt.empty())
    return set(DkimResult::kPermError, "no key record at " + sig.key_name());

  // §6.1.2: with several records, use the first that reads as a key record.
  std::optional<mailauth::DkimKeyRecord> record;
  std::string why;
  for (const auto& strings : answer.txt) {
    std::string joined;
    for (const auto& part : strings) joined += part;
    std::string w;
    record = mailauth::parse_dkim_key_record(joined, &w);
    if (record) break;
    if (why.empty()) why = w;
  }
  if (!record) return set(DkimResult::kPermError, why);
  out.testing = record->testing;
  if (record->public_key.empty()) return set(DkimResult::kPermError, "key revoked (empty p=)");
  if (record->type != mailauth::key_type_of(sig.algorithm))
    return set(DkimResult::kPermError, "key type (k=) does not match a=");
  if (!record->hashes.empty()) {
    std::string_view want = mailauth::hash_of(sig.algorithm) == DkimHash::kSha1 ? "sha1" : "sha256";
    if (std::find(record->hashes.begin(), record->hashes.end(), want) == record->hashes.end())
      return set(DkimResult::kPermError, "key h= does not allow " + std::string(want));
  }
  if (record->strict && sig.identity_domain != sig.domain)
    return set(DkimResult::kPermError, "key has t=s but i= is a subdomain of d=");
  auto key = PublicKey::from_record(record->type, record->public_key);
  if (!key) return set(DkimResult::kPermError, key.error().message);
  out.key_bits = key->bits;
  if (key->type == DkimKeyType::kRsa && key->bits < kMinRsaBits)
    return set(DkimResult::kPolicy, "RSA key shorter than 1024 bits");
  if (key->type == DkimKeyType::kRsa && key->bits > kMaxRsaBits)
    return set(DkimResult::kPolicy, "RSA key longer than 8192 bits");

  // Body.
  const Body& b = *s.body;
  out.body_length = b.total;
  if (sig.length && *sig.length > b.total)
    return set(DkimResult::kPermError, "l= is larger than the body");
  if (sig.length) out.unsigned_body = b.total - *sig.length;
  if (b.digest != sig.bh) return set(DkimResult::kFail, "body hash mismatch");

  // Header signature.
  if (!verify_signature(*key, sig.algorithm, s.header_data, sig.b))
    return set(DkimResult::kFail, "signature did not verify");
  if (sig.algorithm == DkimAlgorithm::kRsaSha1)
    return set(DkimResult::kPolicy, "rsa-sha1 is not acceptable (RFC 8301)");
  if (out.unsigned_body > 0)
    return set(DkimResult::kPolicy,
               "l= leaves " + std::to_string(out.unsigned_body) + " body octets unsigned");
  set(DkimResult::kPass, "");
}

const std::vector<DkimOutcome>& DkimVerifier::results() {
  if (evaluated_) return results_;
  if (!finished_) finish();
  evaluated_ = true;
  for (auto& s : sigs_) {
    if (s.sig) decide(s);
    results_.push_back(s.out);
  }
  return results_;
}

}  // namespace tegami::dkim
