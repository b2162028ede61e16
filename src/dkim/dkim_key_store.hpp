// DKIM signing keys on disk (issue 17; DESIGN §5 `dkim keygen`, `dkim list`).
//
// Layout, under data_dir:
//   data_dir/dkim/                      0700
//   data_dir/dkim/DOMAIN/               0700, DOMAIN in lower case
//   data_dir/dkim/DOMAIN/SELECTOR.rsa.pem       PKCS #8 PEM, 0600
//   data_dir/dkim/DOMAIN/SELECTOR.ed25519.pem   PKCS #8 PEM, 0600
// One file per key; the algorithm is in the name so `list` needs no
// parsing to tell them apart, and a selector names one key of a domain
// whatever its algorithm (the DNS has one record per selector).
//
// Durability (as the Maildir store, DESIGN §3.5): a key is written to a
// temporary file (O_EXCL, 0600), fsynced, then link()ed to its name, which
// fails if the name exists, so two racing keygens cannot overwrite each
// other and a crash leaves either no key or the whole key; then the
// directory is fsynced. A new directory's parent is fsynced too.
//
// Default selector: "tegami" + YYYYMM of the current UTC month (e.g.
// tegami202612): dated, so a rotation next month gets a new name while the
// old record stays published until mail signed with it has been delivered.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "dkim/dkim_crypto.hpp"

namespace tegami::dkim {

struct StoredKey {
  std::string domain;
  std::string selector;
  PrivateKey key;
  std::string path;
};

class DkimKeyStore {
 public:
  // `root` is data_dir + "/dkim".
  explicit DkimKeyStore(std::string root) : root_(std::move(root)) {}

  static std::string default_selector(std::chrono::system_clock::time_point now);
  // Lower-cases `name` and checks it is a DNS name (labels of letters,
  // digits, '-', '_'); nullopt if not.
  static std::optional<std::string> normalize_name(std::string_view name);

  // Generates and stores a key. Refuses (permanent error, "exists") when
  // DOMAIN already has a key named SELECTOR, of either algorithm.
  Result<StoredKey> create(const std::string& domain, const std::string& selector, DkimKeyType type,
                           int rsa_bits = 2048) const;
  // Every key, ordered by domain then selector. A file that cannot be read
  // is an error (the operator should know).
  Result<std::vector<StoredKey>> list() const;
  // The keys of one domain (for the signer); none is not an error.
  Result<std::vector<StoredKey>> keys_for(const std::string& domain) const;

 private:
  std::string root_;
};

// The record to publish as one zone-file line:
//   SELECTOR._domainkey.DOMAIN. IN TXT ( "v=DKIM1; k=rsa; p=..." "..." )
// split into character-strings of at most 255 octets (RFC 1035 §3.3.14).
Result<std::string> zone_file_record(const StoredKey& k);

}  // namespace tegami::dkim
