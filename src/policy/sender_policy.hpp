// SenderPolicy: who may use which envelope sender, and what the answer to
// MAIL FROM decides for the rest of the transaction (DESIGN rule 4).
//
// Pure: the driver gathers the facts (the listener, the trusted networks,
// the SMTP AUTH account, the POP-before-SMTP grant, what the directory says
// about the sender) and this decides. Never touches sockets or storage.
//
// A client is authorised when (issue 7):
//   1. its IP is in [relay] trusted_networks (not enough on submission),
//   2. it authenticated with SMTP AUTH in this session, or
//   3. a POP3 login from its IP left a grant still in force.
// Rules, in order:
//   - submission (and submissions): no AUTH and no grant: 530 5.7.0;
//   - sender-login match ([relay] sender_login_match): a client authorised by
//     AUTH or by a grant may send only as its account or an alias that
//     resolves to its mailbox: 553 5.7.1 (null sender <> allowed). On [smtp]
//     a grant only ever matters for relaying (issue 12): a grant whose owner
//     does not own a non-local sender is simply not used: the mail is
//     accepted like any inbound mail, and a relayed recipient is answered
//     553 5.7.1 (not "relay denied", so the user learns why); the null
//     sender (bounces, auto-replies from a NAT where customers also check
//     mail) never uses the grant and is ordinary inbound mail; and the
//     header-From check applies only when the message is relayed;
//   - local-domain spoofing: on [smtp], a client authorised by none of 1-3
//     may not use a sender in a local domain: 550 5.7.1.
// RFC 4954 §3 (530), RFC 3463 / RFC 5248 (5.7.0, 5.7.1), RFC 6409 §5-6.
#pragma once

#include <string>

#include "mail/address.hpp"
#include "policy/relay_policy.hpp"
#include "store/directory.hpp"

namespace tegami::policy {

struct SenderFacts {
  std::string ip;
  bool submission = false;       // the [submission] or [submissions] listener
  bool trusted_network = false;  // [relay] trusted_networks
  std::string auth_account;      // SMTP AUTH account, "" when none
  std::string grant_account;     // POP-before-SMTP grant in force, "" when none
  bool sender_local = false;     // the sender's domain is one of ours
  bool owned_by_auth = false;    // the sender is auth_account or one of its aliases
  bool owned_by_grant = false;   // the same for grant_account
  bool login_match = true;       // [relay] sender_login_match
};

struct SenderVerdict {
  bool accepted = false;
  std::string reply;  // the full reply line, no CRLF
  // What the recipients of this transaction are decided with.
  ClientInfo client;
  // Non-empty: the header From: must be owned by this account too (checked
  // at the end of DATA; 553 5.7.1 otherwise).
  std::string login_account;
  // With login_account: check the header From: only when the message has a
  // relayed recipient (a POP-before-SMTP grant on [smtp] is used for nothing
  // else; mail for local mailboxes is ordinary inbound mail).
  bool login_check_relay_only = false;
};

SenderVerdict decide_sender(const mail::Address& sender, const SenderFacts& facts);

// True when `address` (lower case) is `account` itself or resolves (through
// aliases) to the account's mailbox. `resolution` is the directory's answer
// for `address`.
bool owns(const std::string& account, const std::string& address, const Resolution& resolution);

// The 553 reply for a sender the client does not own.
std::string not_owned_reply(const std::string& path);

}  // namespace tegami::policy
