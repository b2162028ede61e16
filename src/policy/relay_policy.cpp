#include "policy/relay_policy.hpp"

namespace tegami::policy {

namespace {
RcptVerdict refuse(std::string reply) {
  RcptVerdict v;
  v.kind = RcptVerdict::Kind::Refuse;
  v.reply = std::move(reply);
  return v;
}
}  // namespace

bool refuse_without_lookup(const mail::Address& rcpt, RcptVerdict& out) {
  if (mail::is_relay_hack(rcpt)) {
    out = refuse("554 5.7.1 " + rcpt.to_path() + ": Relay access denied");
    return true;
  }
  return false;
}

RcptVerdict decide_rcpt(const mail::Address& rcpt, const Resolution& resolution,
                        const ClientInfo& client) {
  RcptVerdict hack;
  if (refuse_without_lookup(rcpt, hack)) return hack;
  switch (resolution.kind) {
    case Resolution::Kind::Local: {
      RcptVerdict v;
      v.kind = RcptVerdict::Kind::Local;
      v.reply = "250 2.1.5 Ok";
      v.mailboxes = resolution.mailboxes;
      return v;
    }
    case Resolution::Kind::Unknown:
      return refuse("550 5.1.1 " + rcpt.to_path() +
                    ": Recipient address rejected: User unknown in local recipient table");
    case Resolution::Kind::NotLocal:
      break;
  }
  if (may_relay(client)) {
    RcptVerdict v;
    v.kind = RcptVerdict::Kind::Relay;
    v.reply = "250 2.1.5 Ok";
    return v;
  }
  if (!client.relay_refusal.empty()) return refuse(client.relay_refusal);
  return refuse("554 5.7.1 " + rcpt.to_path() + ": Relay access denied");
}

bool may_relay(const ClientInfo& client) {
  return (client.trusted_network && !client.submission) || client.authenticated || client.pop_grant;
}

}  // namespace tegami::policy
