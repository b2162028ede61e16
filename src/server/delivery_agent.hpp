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
// .hpp) and performs its actions with a deadline on every read and write
// (DESIGN rule 7). STARTTLS: ClientConfig::tls_possible stays false until the
// TLS layer offers a client context (the hook is in ClientSession).
//
// Invariants: runs on the executor given at construction (the queue
// runner's strand), as does the DnsResolver; the request's references must
// outlive the call.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "net/asio.hpp"
#include "net/dns_resolver.hpp"
#include "proto/smtp/client_session.hpp"
#include "store/queue_store.hpp"

namespace tegami::server {

struct DeliveryRequest {
  const QueueEntry* entry = nullptr;
  std::vector<std::size_t> recipients;   // indices into entry->recipients, all in `domain`
  std::string domain;                    // lower case
  const std::string* message = nullptr;  // CRLF, not dot-stuffed
  std::string session_id;                // for logs
};

struct DeliveryOutcome {
  smtp::RecipientResult result = smtp::RecipientResult::kTemporary;
  std::string status;      // RFC 3463
  std::string diagnostic;  // RFC 3464 Diagnostic-Code: "smtp; ..." or "X-Tegami; ..."
  std::string remote_mta;  // host name that answered, "" when none
  std::string relay;       // "host[ip]:port" for logs, "none" when no connection was made
};

struct DeliveryOptions {
  std::string helo_name = "localhost";
  std::map<std::string, std::string> routes;  // [relay] routes
  std::uint16_t mx_port = 25;                 // [relay] mx_port (tests only change it)
  std::chrono::seconds connect_timeout{30};
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
    std::string host;  // for Remote-MTA
    asio::ip::address address;
    std::uint16_t port;
  };
  // The addresses to try, or a final outcome for everyone (error) instead.
  net::awaitable<Result<std::vector<Target>>> plan(const std::string& domain);
  // One SMTP session over a connected socket.
  net::awaitable<void> converse(net::tcp::socket& socket, smtp::ClientSession& session,
                                const std::string& message);

  asio::any_io_executor executor_;
  net::DnsResolver& resolver_;
  DeliveryOptions options_;
  std::uint32_t seed_;
};

}  // namespace tegami::server
