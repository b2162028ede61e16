#include "server/delivery_agent.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <random>

#include <fmt/format.h>

#include "core/log.hpp"
#include "mail/dsn.hpp"
#include "mail/intl.hpp"
#include "proto/smtp/data_encoder.hpp"
#include "server/next_hop.hpp"

namespace tegami::server {

namespace {

using namespace asio::experimental::awaitable_operators;
namespace client = smtp::client;

// How long to wait for the server's close_notify after ours.
constexpr std::chrono::seconds kCloseTimeout{5};

// Connects before `limit` passes; asio::error::timed_out on timeout.
net::awaitable<std::error_code> connect(net::tcp::socket& socket, const net::tcp::endpoint& ep,
                                        std::chrono::seconds limit) {
  asio::steady_timer timer(socket.get_executor(), limit);
  auto r = co_await (socket.async_connect(ep, net::kNoThrow) || timer.async_wait(net::kNoThrow));
  if (r.index() != 0) co_return asio::error::timed_out;
  auto [ec] = std::get<0>(r);
  co_return ec;
}

DeliveryOutcome everyone(const Error& e) {
  DeliveryOutcome o;
  o.result = e.temporary ? smtp::RecipientResult::kTemporary : smtp::RecipientResult::kPermanent;
  o.status = e.enhanced;
  o.diagnostic = "X-Tegami; " + e.message;
  o.relay = "none";
  return o;
}

}  // namespace

std::string DeliveryAgent::remote_mta_of(const Target& t) {
  // RFC 3464 §2.3.5: the Remote-MTA is named with mta-name-type "dns". A
  // next hop given as an IP (a route) has no name: it is recorded as an
  // address literal, which the DSN leaves out of Remote-MTA (mail/dsn.hpp).
  if (!t.literal) return t.host;
  return t.address.is_v6() ? "[IPv6:" + t.address.to_string() + "]"
                           : "[" + t.address.to_string() + "]";
}

DeliveryAgent::DeliveryAgent(asio::any_io_executor executor, net::DnsResolver& resolver,
                             DeliveryOptions options)
    : executor_(std::move(executor)),
      resolver_(resolver),
      options_(std::move(options)),
      seed_(std::random_device{}()) {}

bool SelfEndpoints::contains(const asio::ip::address& a, std::uint16_t port) const {
  auto same = [](const asio::ip::address& x, const asio::ip::address& y) {
    auto plain = [](const asio::ip::address& v) {
      if (v.is_v6() && v.to_v6().is_v4_mapped())
        return asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, v.to_v6()));
      return v;
    };
    return plain(x) == plain(y);
  };
  for (const auto& ep : bound) {
    if (ep.port() != port) continue;
    if (same(ep.address(), a)) return true;
    if (ep.address().is_unspecified()) {
      // A wildcard bind: every address of this host reaches it.
      if (a.is_loopback()) return true;
      for (const auto& h : host_addresses)
        if (same(h, a)) return true;
    }
  }
  return false;
}

std::vector<asio::ip::address> SelfEndpoints::interface_addresses() {
  std::vector<asio::ip::address> out;
  struct ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (auto* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      out.push_back(asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), sin6->sin6_addr.s6_addr, b.size());
      out.push_back(asio::ip::address_v6(b, sin6->sin6_scope_id));
    }
  }
  ::freeifaddrs(list);
  return out;
}

net::awaitable<Result<std::vector<DeliveryAgent::Target>>> DeliveryAgent::plan(
    const std::string& domain) {
  std::vector<NextHop> hops;
  bool routed = false, implicit_mx = false;
  if (auto route = route_for(options_.routes, domain)) {
    auto h = parse_route(*route);
    if (!h)
      co_return fail(
          Error::temp("bad route for " + domain + ": " + h.error().message, 451, "4.3.5"));
    hops.push_back(*h);
    routed = true;
  } else {
    auto mx = co_await resolver_.lookup_mx(domain);
    switch (mx.status) {
      case net::DnsStatus::kOk:
        if (is_null_mx(mx.records))
          co_return fail(Error::perm(
              "domain " + domain + " does not accept mail (null MX, RFC 7505)", 556, "5.1.10"));
        hops = order_mx(mx.records, options_.mx_port, seed_++);
        if (hops.size() > kMaxMxHosts) hops.resize(kMaxMxHosts);
        break;
      case net::DnsStatus::kNoData:  // RFC 5321 §5.1: no MX, the domain is its own MX
        hops.push_back(NextHop{domain, options_.mx_port, false});
        implicit_mx = true;
        break;
      case net::DnsStatus::kNotFound:
      case net::DnsStatus::kBadName:
        co_return fail(Error::perm("domain " + domain + " not found (MX lookup: " + mx.error + ")",
                                   550, "5.1.2"));
      case net::DnsStatus::kTempFail:
        co_return fail(
            Error::temp("MX lookup for " + domain + " failed: " + mx.error, 451, "4.4.3"));
    }
  }
  std::vector<Target> targets;
  std::string why;
  bool temporary = false;
  for (const auto& h : hops) {
    if (h.literal) {
      targets.push_back(Target{h.host, asio::ip::make_address(h.host), h.port, true, h.preference});
      continue;
    }
    auto a = co_await resolver_.lookup_addresses(h.host);
    if (a.status != net::DnsStatus::kOk) {
      why = "address lookup for " + h.host + " failed: " + a.error;
      temporary = temporary || a.status == net::DnsStatus::kTempFail;
      continue;
    }
    for (const auto& addr : a.addresses)
      targets.push_back(Target{h.host, addr, h.port, false, h.preference});
  }
  if (options_.self) {
    // "We are MX" (RFC 5321 §5.1, Postfix's "loops back to myself"): our
    // own listener and every host not preferred to it are dropped; mail
    // for which only those remain is a configuration error, not a loop.
    std::optional<std::uint16_t> ours;
    for (const auto& t : targets)
      if (options_.self->contains(t.address, t.port))
        ours = ours ? std::min(*ours, t.preference) : t.preference;
    if (ours) {
      std::erase_if(targets, [&](const Target& t) { return t.preference >= *ours; });
      if (targets.empty())
        co_return fail(Error::perm("mail for " + domain + " loops back to myself", 554, "5.4.6"));
    }
  }
  if (targets.empty()) {
    if (implicit_mx && !temporary)
      co_return fail(
          Error::perm("domain " + domain + " has no mail server (" + why + ")", 550, "5.1.2"));
    // An MX or a route naming a host without address: a configuration error
    // someone may fix; keep trying until the lifetime ends.
    co_return fail(Error::temp(why.empty() ? "no address to deliver to" : why, 451,
                               routed ? "4.3.5" : "4.4.3"));
  }
  if (targets.size() > kMaxAddresses) targets.resize(kMaxAddresses);
  co_return targets;
}

smtp::ClientMessage DeliveryAgent::client_message(const DeliveryRequest& request) const {
  const QueueEntry& entry = *request.entry;
  smtp::ClientMessage msg;
  msg.sender = entry.sender;
  for (auto i : request.recipients) msg.recipients.push_back(entry.recipients[i].address);
  msg.size = entry.size;
  msg.eight_bit = entry.eight_bit;
  // RFC 6531: SMTPUTF8 when the message came with it, or when an address
  // needs it anyway (a DSN to a UTF-8 sender).
  msg.smtputf8 = entry.smtputf8 || !mail::is_ascii(msg.sender);
  for (const auto& r : msg.recipients) msg.smtputf8 = msg.smtputf8 || !mail::is_ascii(r);
  msg.utf8_headers = msg.smtputf8 && request.message->utf8_headers;
  // RFC 3461 §5.2.1: the DSN parameters as received, for a server offering DSN.
  msg.ret = entry.ret;
  msg.envid = entry.envid;
  for (auto i : request.recipients) {
    msg.notify.push_back(entry.recipients[i].notify);
    msg.orcpt.push_back(entry.recipients[i].orcpt);
  }
  return msg;
}

namespace {

// The outcomes a finished transaction gives its request.
std::vector<DeliveryOutcome> settled(const smtp::ClientSession& session, std::size_t n,
                                     const std::string& remote_mta, const std::string& peer) {
  std::vector<DeliveryOutcome> out(n);
  const auto& oc = session.outcomes();
  for (std::size_t k = 0; k < n && k < oc.size(); ++k) {
    const auto& o = oc[k];
    out[k].result = o.result;
    out[k].status = o.status;
    // RFC 3464 §2.3.6: the server's reply alone; the stage is kept apart
    // (the DSN's text part says "in reply to RCPT TO command").
    out[k].diagnostic = (o.from_server ? "smtp; " : "X-Tegami; ") + o.reply;
    out[k].stage = o.from_server ? o.stage : std::string();
    out[k].remote_mta = remote_mta;
    out[k].relay = peer;
    out[k].next_hop_dsn = session.dsn_offered();
  }
  return out;
}

}  // namespace

// g++ 12 at -O2 inlines asio's coroutine frame allocator (aligned_alloc) into
// this ramp function and then warns that the frame's class operator delete
// (which calls free) does not match it: a false positive
// (-Wmismatched-new-delete, GCC PR 109224 family), silenced for this function only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
net::awaitable<ServeReport> DeliveryAgent::serve(RequestSource& source, std::size_t reuse) {
  ServeReport report;
  const DeliveryRequest* current = source.next();
  if (current == nullptr) co_return report;
  auto planned = co_await plan(current->domain);
  if (!planned) {
    report.kind = ServeReport::Kind::kNoRoute;
    report.failure = everyone(planned.error());
    source.done(*current, std::vector<DeliveryOutcome>(current->recipients.size(), report.failure),
                false);
    co_return report;
  }

  Error last = Error::temp("no address to deliver to", 451, "4.4.1");
  std::string last_mta, last_relay = "none";
  // When the last host failed with a reply of its own (a 421 greeting, a
  // refused EHLO), that reply is the diagnostic ("smtp; ..."), with its stage.
  std::optional<smtp::RecipientOutcome> last_reply;
  for (const auto& t : *planned) {
    std::string peer = fmt::format("{}[{}]:{}", t.host, t.address.to_string(), t.port);
    net::tcp::endpoint ep(t.address, t.port);
    bool try_tls = options_.tls_client != nullptr;
    for (;;) {
      net::tcp::socket socket(executor_);
      ++report.connections;
      std::error_code ec = co_await connect(socket, ep, options_.connect_timeout);
      if (ec) {
        std::string failure = "connect to " + peer + ": " + ec.message();
        spdlog::info("queue {} {}", current->session_id, failure);
        last = Error::temp(failure, 451, "4.4.1");
        last_mta.clear();
        last_reply.reset();
        last_relay = peer;
        break;
      }
      smtp::ClientConfig config{options_.helo_name, current->session_id, peer, try_tls};
      config.reuse = reuse > 1;
      config.greeting_timeout = options_.greeting_timeout;
      config.data_timeout = options_.data_timeout;
      smtp::ClientSession session(std::move(config), client_message(*current));
      auto stream = std::make_shared<net::SessionStream>(std::move(socket));
      asio::co_spawn(
          executor_, [stream]() { return stream->watchdog(); }, asio::detached);
      auto c = co_await converse(*stream, session, current, t, source, reuse, report);
      if (current == nullptr) co_return report;  // every request settled
      if (!session.host_failed()) {
        // The connection ended in the middle of a transaction (lost, 421,
        // timeout): its outcomes are final for this attempt.
        source.done(*current, settled(session, current->recipients.size(), remote_mta_of(t), peer),
                    true);
        ++report.transactions;
        co_return report;
      }
      if (c.transactions > 0) {
        // A reused connection failed before the next MAIL was answered:
        // nothing was decided; a new connection to the same host.
        spdlog::info("queue {} {}: reused connection failed; reconnecting", current->session_id,
                     peer);
        continue;
      }
      if (!c.tls_ok && try_tls) {
        // Opportunistic TLS (RFC 7435): a failed handshake must not stop a
        // delivery that clear text would make; once more, without STARTTLS.
        spdlog::info("queue {} {}: retrying without STARTTLS", current->session_id, peer);
        try_tls = false;
        continue;
      }
      std::string reason = "host " + peer + " failed";
      std::string status = "4.4.0";
      last_reply.reset();
      for (const auto& o : session.outcomes()) {
        if (o.result != smtp::RecipientResult::kTemporary) continue;
        reason = o.reply;
        status = o.status;
        if (o.from_server) last_reply = o;
        break;
      }
      spdlog::info("queue {} {}: {}{}; trying the next host", current->session_id, peer, reason,
                   last_reply ? " (" + mail::in_reply_to(last_reply->stage) + ")" : "");
      last = Error::temp(reason, 451, status);
      last_mta = remote_mta_of(t);
      last_relay = peer;
      break;
    }
  }
  DeliveryOutcome o = everyone(last);
  if (last_reply) {
    o.diagnostic = "smtp; " + last_reply->reply;
    o.stage = last_reply->stage;
  }
  o.remote_mta = last_mta;
  o.relay = last_relay;
  if (report.transactions == 0) {
    report.kind = ServeReport::Kind::kUnreachable;
    report.failure = o;
  }
  source.done(*current, std::vector<DeliveryOutcome>(current->recipients.size(), o), false);
  co_return report;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

net::awaitable<DeliveryAgent::Converse> DeliveryAgent::converse(
    net::SessionStream& stream, smtp::ClientSession& session, const DeliveryRequest*& current,
    const Target& target, RequestSource& source, std::size_t reuse, ServeReport& report) {
  const std::string& peer = session.config().peer;
  Converse result;
  std::deque<client::Action> queue;
  auto push = [&queue](client::Actions a) {
    for (auto& x : a) queue.push_back(std::move(x));
  };
  auto broken = [&queue, &push, &session]() {
    queue.clear();
    push(session.step(client::PeerClosed{}));
  };
  push(session.step(client::Connected{}));
  std::string buf(16 * 1024, '\0');
  for (;;) {
    while (!queue.empty()) {
      auto action = std::move(queue.front());
      queue.pop_front();
      const std::string& id =
          current != nullptr ? current->session_id : session.config().session_id;
      if (auto* snd = std::get_if<client::Send>(&action)) {
        std::string_view bytes = snd->bytes;
        stream.expires_after(smtp::kOtherReplyTimeout);
        std::error_code ec = co_await stream.write_all(bytes);
        if (ec) broken();
      } else if (auto* sm = std::get_if<client::SendMessage>(&action)) {
        std::error_code ec = co_await send_message(stream, *current->message, sm->bdat, id);
        if (ec) broken();
      } else if (std::holds_alternative<client::StartTls>(action)) {
        std::shared_ptr<net::ssl::context> ctx = options_.tls_client;
        if (!ctx) {  // not reached: the session asks only when tls_possible
          push(session.step(client::TlsDone{false}));
          continue;
        }
        // SNI carries host names only (RFC 6066 §3), never an address literal.
        std::error_code not_an_address;
        (void)asio::ip::make_address(target.host, not_an_address);
        std::string_view sni = not_an_address ? std::string_view(target.host) : std::string_view();
        stream.upgrade(ctx, net::TlsRole::kClient, sni);
        stream.expires_after(net::kTlsHandshakeTimeout);
        std::error_code ec = co_await stream.handshake();
        if (ec) {
          result.tls_ok = false;
          spdlog::info("queue {} {} tls handshake {}: {}", id, peer,
                       stream.timed_out() ? "timed out" : "failed", log_safe(ec.message()));
          push(session.step(client::TlsDone{false}));
          continue;
        }
        // Opportunistic: the certificate is logged, never a reason to stop.
        spdlog::info("queue {} {} tls={} cipher={}{} certificate={}", id, peer,
                     stream.tls_protocol(), stream.tls_cipher(),
                     stream.tls_resumed() ? " resumed" : "",
                     log_safe(net::peer_verification(stream.native_tls(), target.host)));
        push(session.step(client::TlsDone{true}));
      } else if (std::holds_alternative<client::Ready>(action)) {
        // The transaction is over with the server still in step: settle
        // this request, and go on with the next one over this connection.
        auto outcomes = settled(session, current->recipients.size(), remote_mta_of(target), peer);
        bool any = false;
        for (const auto& o : outcomes) any = any || o.result == smtp::RecipientResult::kDelivered;
        const DeliveryRequest* done = current;
        current = nullptr;
        ++result.transactions;
        ++report.transactions;
        if (any) ++report.delivered;
        report.kind = ServeReport::Kind::kReached;
        source.done(*done, std::move(outcomes), true);
        const DeliveryRequest* next = result.transactions < reuse ? source.next() : nullptr;
        if (next == nullptr) {
          push(session.step(client::Quit{}));
        } else {
          current = next;
          spdlog::info("queue {} {}: reusing the connection (message {} on it)", next->session_id,
                       peer, result.transactions + 1);
          push(session.next(client_message(*next)));
        }
      } else if (std::holds_alternative<client::Close>(action)) {
        // With TLS: close_notify both ways (bounded), then close.
        co_await stream.shutdown(kCloseTimeout);
        co_return result;
      }
    }
    if (!session.wants_input()) {
      stream.close();
      co_return result;
    }
    stream.expires_after(session.read_timeout());
    auto [ec, n] = co_await stream.read_some(buf.data(), buf.size());
    if (ec) {
      if (stream.timed_out()) {
        push(session.step(client::Timeout{}));
      } else {
        push(session.step(client::PeerClosed{}));
      }
      continue;
    }
    push(session.step(client::Input{std::string_view(buf.data(), n)}));
  }
}

net::awaitable<std::error_code> DeliveryAgent::send_message(net::SessionStream& stream,
                                                            const OutboundMessage& message,
                                                            bool bdat, const std::string& log_id) {
  smtp::WireEncoder encoder(bdat ? smtp::WireEncoder::Mode::kBdat : smtp::WireEncoder::Mode::kData);
  std::string out;
  if (bdat) out = "BDAT " + std::to_string(message.bdat_size) + " LAST\r\n";
  encoder.encode(message.prefix, &out);  // the DKIM-Signature, when signed
  std::string piece(kOutboundPiece, '\0');
  std::uint64_t offset = 0;
  const QueuedMessage& file = *message.file;
  auto cannot_go_on = [] { return std::make_error_code(std::errc::io_error); };
  for (;;) {
    Result<std::size_t> got = 0;
    if (options_.workers != nullptr) {
      got = co_await options_.workers->run(
          [&file, &piece, offset] { return file.read(offset, piece.data(), piece.size()); });
    } else {
      got = file.read(offset, piece.data(), piece.size());
    }
    if (!got) {
      spdlog::error("queue {}: {}", log_id, got.error().message);
      co_return cannot_go_on();
    }
    if (*got == 0) break;
    offset += *got;
    encoder.encode(std::string_view(piece.data(), *got), &out);
    // RFC 5321 §4.5.3.2.5: 3 minutes for each block written.
    stream.expires_after(smtp::kDataBlockTimeout);
    if (auto ec = co_await stream.write_all(out)) co_return ec;
    out.clear();
  }
  encoder.finish(&out);
  if (bdat && encoder.produced() != message.bdat_size) {
    // The chunk would not match its announced size: never send that.
    spdlog::error("queue {}: the message changed after it was measured ({} != {} octets)", log_id,
                  encoder.produced(), message.bdat_size);
    co_return cannot_go_on();
  }
  stream.expires_after(smtp::kDataBlockTimeout);
  co_return co_await stream.write_all(out);
}

}  // namespace tegami::server
