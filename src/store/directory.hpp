// Directory: domains, accounts and aliases (DESIGN §2 store).
//
// Invariants: domains and addresses are stored and compared in lower case
// (callers may pass any case; implementations normalise). A password is
// stored only as a crypt(3) hash; an APOP secret only sealed (auth/sealed.hpp).
// Failure behaviour: every call returns a temporary Error when the backing
// store cannot be read or written; admin calls are transactional (all or
// nothing) and return a permanent Error for a conflict (e.g. duplicate user).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tegami {

// A mailbox: data_dir/mail/DOMAIN/LOCAL/, both lower case.
struct MailboxRef {
  std::string domain;
  std::string local;
  std::string address() const { return local + "@" + domain; }
  bool operator==(const MailboxRef&) const = default;
  auto operator<=>(const MailboxRef&) const = default;
};

struct Account {
  std::string address;  // lower-case local@domain
  MailboxRef mailbox;
  std::string password_hash;               // crypt(3) string: $y$, $6$, $5$, $2b$
  std::optional<std::string> apop_sealed;  // AES-256-GCM sealed APOP secret, base64
};

struct Alias {
  std::string alias;   // lower-case local@domain
  std::string target;  // an address (local or remote), lower case
};

// What a recipient address resolves to.
struct Resolution {
  enum class Kind { NotLocal, Unknown, Local };
  Kind kind = Kind::NotLocal;
  std::vector<MailboxRef> mailboxes;  // Local: one or more, no duplicates
};

class Directory {
 public:
  virtual ~Directory() = default;

  // --- lookups (hot path) ---
  virtual Result<bool> is_local_domain(const std::string& domain) = 0;
  virtual Result<std::optional<Account>> find_account(const std::string& address) = 0;
  // Resolves an address through aliases (bounded depth) to local mailboxes.
  virtual Result<Resolution> resolve(const std::string& address) = 0;

  // --- administration ---
  virtual Result<void> add_domain(const std::string& domain) = 0;
  virtual Result<void> del_domain(const std::string& domain) = 0;  // refuses if users remain
  virtual Result<std::vector<std::string>> list_domains() = 0;

  virtual Result<void> add_user(const std::string& address, const std::string& password_hash,
                                const std::optional<std::string>& apop_sealed) = 0;
  virtual Result<void> set_password(const std::string& address, const std::string& password_hash,
                                    const std::optional<std::string>& apop_sealed) = 0;
  virtual Result<void> del_user(const std::string& address) = 0;
  virtual Result<std::vector<Account>> list_users() = 0;

  virtual Result<void> add_alias(const std::string& alias, const std::string& target) = 0;
  virtual Result<void> del_alias(const std::string& alias) = 0;
  virtual Result<std::vector<Alias>> list_aliases() = 0;
};

}  // namespace tegami
