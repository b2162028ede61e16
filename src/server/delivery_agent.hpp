// DeliveryAgent: delivers one queued message to the recipients it has in
// one domain, over SMTP (DESIGN §1 "MX lookup, SMTP client").
//
// deliver(): finds the next hops (server/next_hop.hpp: a route, else MX,
// else the implicit MX), looks up their addresses, and tries them in order
// (at most kMaxAddresses connections) until one session gets past the
// greeting and EHLO: that session's per-recipient outcomes are final for
// this attempt. Connection failures, timeouts and host-level refusals move
// on to the next address (RFC 5321 §5.1); when every address failed, every
// recipient gets a temporary outcome naming the last reason.
//
// Permanent without any connection: NXDOMAIN or no address at all for the
// domain (5.1.2), a null MX (RFC 7505, 5.1.10). Temporary: DNS failures.
//
// The connection driver feeds smtp::ClientSession (proto/smtp/client_session
// .hpp) over a net::SessionStream and performs its actions with a deadline
// on every read, write and handshake (DESIGN rule 7).
//
// STARTTLS (RFC 3207), opportunistic (RFC 7435, Postfix's security level
// "may"): with DeliveryOptions::tls_client set, the session sends STARTTLS
// whenever the server offers it; the certificate is never a reason to stop
// (its verification result is logged with the protocol and cipher). A 454
// (any non-2xx) to STARTTLS: go on in clear text on the same connection. A
// failed TLS handshake: the connection is unusable, so the same address is
// tried once more, at once, over a new connection without STARTTLS (TLS
// that fails must not make delivery worse than no TLS); a failure of that
// retry moves on to the next address as usual.
//
// Invariants: runs on the executor given at construction (the queue
// runner's strand), as does the DnsResolver; the request's references must
// outlive the call.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/asio.hpp"
#include "net/dns_resolver.hpp"
#include "net/session_stream.hpp"
#include "net/tls_context.hpp"
#include "net/worker_pool.hpp"
#include "proto/smtp/client_session.hpp"
#include "server/outbound_message.hpp"
#include "store/queue_store.hpp"

namespace tegami::server {

struct DeliveryRequest {
  const QueueEntry* entry = nullptr;
  std::vector<std::size_t> recipients;       // indices into entry->recipients, all in `domain`
  std::string domain;                        // lower case
  const OutboundMessage* message = nullptr;  // read from its file as it is sent
  std::string session_id;                    // for logs
};

struct DeliveryOutcome {
  smtp::RecipientResult result = smtp::RecipientResult::kTemporary;
  std::string status;      // RFC 3463
  std::string diagnostic;  // RFC 3464 Diagnostic-Code: "smtp; <reply>" or "X-Tegami; ..."
  // The server that answered: the MX or route host name; "[IP]" when the
  // next hop was an address literal (no name to give); "" when none answered.
  std::string remote_mta;
  std::string stage;  // the command an "smtp;" reply answered ("RCPT TO"), else ""
  std::string relay;  // "host[ip]:port" for logs, "none" when no connection was made
  // The server that took the message offered DSN (RFC 3461): the NOTIFY,
  // ORCPT, RET and ENVID went with it, and that server answers for them.
  bool next_hop_dsn = false;
};

struct DeliveryOptions {
  std::string helo_name = "localhost";
  std::map<std::string, std::string> routes;  // [relay] routes
  std::uint16_t mx_port = 25;                 // [relay] mx_port (tests only change it)
  std::chrono::seconds connect_timeout{30};
  // Client context for opportunistic STARTTLS (net::make_client_context,
  // verify_peer false); nullptr: never STARTTLS.
  std::shared_ptr<net::ssl::context> tls_client;
  // Where the message file is read (a cold file must not stall the event
  // loop); null: read on the agent's executor.
  net::WorkerPool* workers = nullptr;
};

class DeliveryAgent {
 public:
  // RFC 5321 §5.1 leaves the count to us; Postfix tries 5 MX hosts by default.
  static constexpr std::size_t kMaxMxHosts = 5;
  static constexpr std::size_t kMaxAddresses = 10;

  DeliveryAgent(asio::any_io_executor executor, net::DnsResolver& resolver,
                DeliveryOptions options);

  // One outcome per request.recipients entry, same order.
  net::awaitable<std::vector<DeliveryOutcome>> deliver(const DeliveryRequest& request);

 private:
  struct Target {
    std::string host;  // the MX or route host name; the address itself for an IP route
    asio::ip::address address;
    std::uint16_t port;
    bool literal = false;  // the next hop was an IP address: no host name
  };
  // What the queue records as remote-mta for a target (see DeliveryOutcome).
  static std::string remote_mta_of(const Target& t);
  // The addresses to try, or a final outcome for everyone (error) instead.
  net::awaitable<Result<std::vector<Target>>> plan(const std::string& domain);
  // One SMTP session over a connected stream (closed on return). False when
  // a TLS handshake was tried and failed (the caller may retry without TLS).
  net::awaitable<bool> converse(net::SessionStream& stream, smtp::ClientSession& session,
                                const OutboundMessage& message, const Target& target);
  // Writes the message after the 354 (dot-stuffed, with the terminator) or
  // as the one BDAT LAST chunk, piece by piece from its file; an error
  // (write, read, or a file that no longer matches its scan) means the
  // connection cannot go on.
  net::awaitable<std::error_code> send_message(net::SessionStream& stream,
                                               const OutboundMessage& message, bool bdat,
                                               const std::string& log_id);

  asio::any_io_executor executor_;
  net::DnsResolver& resolver_;
  DeliveryOptions options_;
  std::uint32_t seed_;
};

}  // namespace tegami::server
