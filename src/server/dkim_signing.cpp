#include "server/dkim_signing.hpp"

#include "core/log.hpp"
#include "dkim/dkim_signer.hpp"
#include "mail/header.hpp"
#include "mail/header_address.hpp"
#include "server/outbound_message.hpp"

namespace tegami::server {

std::optional<dkim::StoredKey> DkimSigning::key_for(const std::string& domain) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto it = cache_.find(domain);
  if (it != cache_.end() && now - it->second.loaded < kReload) return it->second.key;
  Cached c;
  c.loaded = now;
  auto keys = store_.keys_for(domain);
  if (!keys) {
    spdlog::warn("dkim: keys of {}: {}", log_safe(domain), keys.error().message);
  } else if (!keys->empty()) {
    c.key = keys->back();  // ordered by selector: the newest
  }
  if (cache_.size() >= 10000) cache_.clear();  // bounded (one entry per From: domain seen)
  cache_[domain] = c;
  return c.key;
}

Result<std::string> DkimSigning::sign(const QueuedMessage& file, std::int64_t now) {
  // The header section, for the From: domain (a header longer than this is
  // not signed: From: would be past it anyway in any sane message).
  auto header = read_header_section(file, 256 * 1024);
  if (!header) return fail(header.error());
  const auto parsed = mail::parse_header(*header);
  const auto* from = parsed.find("From");
  if (from == nullptr) return std::string();
  const auto author = mail::first_address(from->value);
  if (author.domain.empty()) return std::string();
  auto key = key_for(author.domain);
  if (!key) return std::string();
  dkim::DkimSignOptions o;
  o.domain = key->domain;
  o.selector = key->selector;
  o.key = key->key;
  o.timestamp = now;
  dkim::DkimSigner signer(std::move(o));
  std::string piece(kOutboundPiece, '\0');
  std::uint64_t offset = 0;
  for (;;) {
    auto got = file.read(offset, piece.data(), piece.size());
    if (!got) return fail(got.error());
    if (*got == 0) break;
    signer.feed(std::string_view(piece.data(), *got));
    offset += *got;
  }
  signer.finish();
  auto field = signer.signature_field();
  if (!field) {
    spdlog::error("dkim: cannot sign for {} with selector {}: {}", key->domain, key->selector,
                  field.error().message);
    return std::string();
  }
  return std::move(*field);
}

}  // namespace tegami::server
