// Password checks shared by POP3 (USER/PASS, AUTH PLAIN) and SMTP AUTH
// (PLAIN, LOGIN). Blocking (a directory lookup and a slow hash): run it on
// the worker pool.
//
// An unknown account costs the same hash verification as a known one
// (ServerContext::dummy_hash), so timing does not tell which addresses exist.
#pragma once

#include <string>

#include "server/server_context.hpp"

namespace tegami::server {

struct CredentialCheck {
  enum class Kind { kOk, kBadCredentials, kTempFailure };
  Kind kind = Kind::kBadCredentials;
  std::string account;  // kOk: the account's lower-case address
};

CredentialCheck check_password(ServerContext& ctx, const std::string& user,
                               const std::string& password);

}  // namespace tegami::server
