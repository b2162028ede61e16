// RelayPolicy: who may send to which recipient (DESIGN rule 4).
//
// Pure decisions: given the parsed recipient, what the directory says about
// it and what we know about the client, return a verdict with the reply the
// protocol layer sends. Never touches sockets or storage.
//
// Order of checks (each refusal is final):
//   1. relay tricks (percent hack, bang paths, source routes, quoted '@',
//      address literals, numeric domains) never lead anywhere:
//      554 5.7.1 Relay access denied — even for a local domain, so that
//      "user%remote@local" cannot be bounced around (CHECKLIST "Open relay");
//   2. a local domain: the account or alias (250 2.1.5), else 550 5.1.1;
//   3. any other domain: relaying, allowed for a client in [relay]
//      trusted_networks (not on submission), after SMTP AUTH or with a
//      POP-before-SMTP grant (sender_policy.hpp decides which apply)
//      (the Relay verdict: the recipient goes to the outbound queue); for
//      everyone else 554 5.7.1 Relay access denied.
// RFC 5321 §3.6.2 (relaying), §4.2.2 and RFC 3463 (codes), RFC 5068 §3.
#pragma once

#include <string>
#include <vector>

#include "mail/address.hpp"
#include "store/directory.hpp"

namespace tegami::policy {

struct ClientInfo {
  std::string ip;
  bool trusted_network = false;  // [relay] trusted_networks
  bool authenticated = false;    // SMTP AUTH in this session
  bool pop_grant = false;        // POP-before-SMTP grant for this IP
  bool submission = false;       // submission listener: the trusted network alone does not count
  // Non-empty: the reply for a recipient that would need relaying when the
  // client may not relay (instead of "Relay access denied").
  std::string relay_refusal;
};

struct RcptVerdict {
  enum class Kind { Local, Relay, Refuse };
  Kind kind = Kind::Refuse;
  std::string reply;                  // the full reply line, no CRLF
  std::vector<MailboxRef> mailboxes;  // Local: where the copies go
};

// True when this client may relay (step 3).
bool may_relay(const ClientInfo& client);

// Step 1 alone: no directory lookup needed to refuse these.
bool refuse_without_lookup(const mail::Address& rcpt, RcptVerdict& out);

// Steps 2-3, given the directory's resolution of rcpt's address.
RcptVerdict decide_rcpt(const mail::Address& rcpt, const Resolution& resolution,
                        const ClientInfo& client);

}  // namespace tegami::policy
