#include "policy/sender_policy.hpp"

#include <algorithm>

namespace tegami::policy {

namespace {

SenderVerdict refuse(std::string reply) {
  SenderVerdict v;
  v.accepted = false;
  v.reply = std::move(reply);
  return v;
}

SenderVerdict accept(ClientInfo client, std::string login_account) {
  SenderVerdict v;
  v.accepted = true;
  v.reply = "250 2.1.0 Ok";
  v.client = std::move(client);
  v.login_account = std::move(login_account);
  return v;
}

}  // namespace

std::string not_owned_reply(const std::string& path) {
  return "553 5.7.1 " + path + ": Sender address not owned by you";
}

bool owns(const std::string& account, const std::string& address, const Resolution& resolution) {
  if (account.empty() || address.empty()) return false;
  if (address == account) return true;
  if (resolution.kind != Resolution::Kind::Local) return false;
  return std::any_of(resolution.mailboxes.begin(), resolution.mailboxes.end(),
                     [&](const MailboxRef& m) { return m.address() == account; });
}

SenderVerdict decide_sender(const mail::Address& sender, const SenderFacts& f) {
  const std::string path = sender.to_path();
  const bool null = sender.null_path;
  ClientInfo client;
  client.ip = f.ip;
  client.submission = f.submission;
  client.trusted_network = f.trusted_network;

  // 2. SMTP AUTH: its account must own the sender.
  if (!f.auth_account.empty()) {
    if (f.login_match && !null && !f.owned_by_auth) return refuse(not_owned_reply(path));
    client.authenticated = true;
    return accept(std::move(client), f.login_match ? f.auth_account : std::string());
  }
  if (f.submission) {
    // RFC 6409 §4.3 / RFC 4954 §6: submission is for authorised users only.
    if (f.grant_account.empty()) return refuse("530 5.7.0 Authentication required");
    if (f.login_match && !null && !f.owned_by_grant) return refuse(not_owned_reply(path));
    client.pop_grant = true;
    return accept(std::move(client), f.login_match ? f.grant_account : std::string());
  }
  // [smtp] from here on.
  // 1. The ISP's own network sends as whoever it wants (its own servers,
  //    forms, list managers): no sender check.
  if (f.trusted_network) return accept(std::move(client), {});
  // 3. A grant: the owner of the grant sends as itself. On [smtp] a grant
  //    is only ever used to relay: the null sender (a bounce or auto-reply
  //    from a NAT where customers also check mail) is inbound mail and never
  //    relays on it, and the header From: is checked only if the message is
  //    relayed.
  if (!f.grant_account.empty()) {
    if (null) return accept(std::move(client), {});
    if (!f.login_match || f.owned_by_grant) {
      client.pop_grant = true;
      auto v = accept(std::move(client), f.login_match ? f.grant_account : std::string());
      v.login_check_relay_only = f.login_match;
      return v;
    }
    // Someone else's address behind the granted IP (a shared NAT): a local
    // one is a forgery; a foreign one is ordinary inbound mail that may not
    // relay on the grant.
    if (f.sender_local) return refuse(not_owned_reply(path));
    client.relay_refusal = not_owned_reply(path);
    return accept(std::move(client), {});
  }
  // Nobody we know: mail from our own domains must come from our own users.
  if (!null && f.sender_local)
    return refuse("550 5.7.1 " + path +
                  ": Sender address rejected: local domain sender from an unauthorised client");
  return accept(std::move(client), {});
}

}  // namespace tegami::policy
