// DkimSigning: which key signs a queued message as it leaves (issue 17:
// "outbound mail of local domains is DKIM-signed"), and the signing itself.
//
// The key is chosen by the domain of the header From: (its first mailbox):
// a domain with keys under data_dir/dkim (made by `tegami dkim keygen`,
// which is only ever done for our own domains) signs with the newest of
// them (the greatest selector: the default selectors are dated,
// tegamiYYYYMM, so a new key takes over from the old one at once while the
// old record stays published). Keys are read from disk at most once a
// minute per domain, so a key made while the server runs is used within a
// minute. Thread-safe (called on the worker pool).
//
// Signing happens when a delivery attempt reads the queued file to measure
// it (scan_outbound): the file is immutable, so the signature made then
// matches what is sent; the field is sent in front of the file's octets.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "dkim/dkim_key_store.hpp"
#include "store/queue_store.hpp"

namespace tegami::server {

class DkimSigning {
 public:
  static constexpr std::chrono::seconds kReload{60};

  explicit DkimSigning(std::string root) : store_(std::move(root)) {}

  // The key that signs mail From: `domain` (lower case), or none.
  std::optional<dkim::StoredKey> key_for(const std::string& domain);

  // The DKIM-Signature field (CRLF, final CRLF) for the queued message, or
  // "" when its From: domain has no key. Errors (unreadable file) are the
  // caller's; a key that cannot sign is logged and the message goes
  // unsigned (a missing signature is better than no delivery).
  Result<std::string> sign(const QueuedMessage& file, std::int64_t now);

 private:
  struct Cached {
    std::optional<dkim::StoredKey> key;
    std::chrono::steady_clock::time_point loaded;
  };
  dkim::DkimKeyStore store_;
  std::mutex mu_;
  std::map<std::string, Cached> cache_;
};

}  // namespace tegami::server
