#include "server/tls_handshake.hpp"

#include "core/log.hpp"

namespace tegami::server {

std::string_view to_string(HandshakeResult r) {
  switch (r) {
    case HandshakeResult::kOk:
      return "ok";
    case HandshakeResult::kBusy:
      return "busy";
    case HandshakeResult::kFailed:
      return "failed";
    case HandshakeResult::kTimedOut:
      return "timeout";
  }
  return "?";
}

net::awaitable<HandshakeResult> server_handshake(net::TlsContext& tls, net::SessionStream& stream,
                                                 const std::string& log_id,
                                                 const std::string& client) {
  auto& limiter = tls.handshakes();
  auto slot = limiter.try_acquire(client);
  if (!slot) {
    spdlog::warn("{} ip={} tls handshake refused: {} in progress from this client, {} in all",
                 log_id, stream.remote_ip(), limiter.in_progress(client), limiter.in_progress());
    co_return HandshakeResult::kBusy;
  }
  if (!stream.is_tls()) {
    auto ctx = tls.current();
    stream.upgrade(ctx);
  }
  // Under load the deadline shrinks (net::HandshakeLimiter::deadline()).
  stream.expires_after(limiter.deadline());
  std::error_code ec = co_await stream.handshake();
  slot.release();
  if (ec) {
    bool timeout = stream.timed_out();
    // OpenSSL's reason ("wrong version number", "no shared cipher") is what
    // an operator needs to tell a scanner from a client too old to talk to.
    spdlog::info("{} ip={} tls handshake {}: {}", log_id, stream.remote_ip(),
                 timeout ? "timed out" : "failed", log_safe(ec.message()));
    co_return timeout ? HandshakeResult::kTimedOut : HandshakeResult::kFailed;
  }
  spdlog::info("{} ip={} tls={} cipher={}{}", log_id, stream.remote_ip(), stream.tls_protocol(),
               stream.tls_cipher(), stream.tls_resumed() ? " resumed" : "");
  co_return HandshakeResult::kOk;
}

}  // namespace tegami::server
