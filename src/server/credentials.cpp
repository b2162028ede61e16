#include "server/credentials.hpp"

#include "auth/password.hpp"

namespace tegami::server {

CredentialCheck check_password(ServerContext& ctx, const std::string& user,
                               const std::string& password) {
  CredentialCheck r;
  auto acct = ctx.directory.find_account(user);
  if (!acct) {
    r.kind = CredentialCheck::Kind::kTempFailure;
    return r;
  }
  if (!*acct) {
    verify_password(password, ctx.dummy_hash);
    return r;
  }
  if (!verify_password(password, (*acct)->password_hash)) return r;
  r.kind = CredentialCheck::Kind::kOk;
  r.account = (*acct)->address;
  return r;
}

}  // namespace tegami::server
