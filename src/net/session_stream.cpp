#include "net/session_stream.hpp"

#include <openssl/ssl.h>

namespace tegami::net {

namespace {
std::string ip_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}
}  // namespace

SessionStream::SessionStream(tcp::socket s)
    : socket_(std::move(s)), timer_(socket_.get_executor()) {
  std::error_code ec;
  auto r = socket_.remote_endpoint(ec);
  if (!ec) {
    remote_ip_ = ip_text(r.address());
    remote_port_ = r.port();
  }
  auto l = socket_.local_endpoint(ec);
  if (!ec) {
    local_ip_ = ip_text(l.address());
    local_port_ = l.port();
  }
  socket_.set_option(tcp::no_delay(true), ec);
}

SessionStream::SessionStream(tcp::socket s, std::shared_ptr<ssl::context> tls, TlsRole role)
    : SessionStream(std::move(s)) {
  upgrade(std::move(tls), role);
}

// Out of line: TlsStream is complete here.
SessionStream::~SessionStream() = default;

void SessionStream::upgrade(std::shared_ptr<ssl::context> ctx, TlsRole role,
                            std::string_view peer_name) {
  if (tls_) return;  // already TLS: STARTTLS inside TLS is the session's to refuse
  ctx_ = std::move(ctx);
  role_ = role;
  tls_ = std::make_unique<TlsStream>(std::move(socket_), *ctx_);
  if (role == TlsRole::kClient && !peer_name.empty()) {
    std::string name(peer_name);
    SSL* ssl = tls_->native_handle();
    SSL_set_tlsext_host_name(ssl, name.c_str());
    if (SSL_CTX_get_verify_mode(ctx_->native_handle()) & SSL_VERIFY_PEER)
      SSL_set1_host(ssl, name.c_str());
  }
}

awaitable<std::error_code> SessionStream::handshake() {
  if (!tls_) co_return asio::error::operation_not_supported;
  auto type = role_ == TlsRole::kServer ? ssl::stream_base::server : ssl::stream_base::client;
  auto [ec] = co_await tls_->async_handshake(type, kNoThrow);
  if (timed_out_) ec = asio::error::timed_out;
  handshake_done_ = !ec;
  co_return ec;
}

awaitable<std::error_code> SessionStream::start_tls(const std::shared_ptr<ssl::context>& ctx,
                                                    TlsRole role) {
  upgrade(ctx, role);
  co_return co_await handshake();
}

awaitable<void> SessionStream::shutdown(clock::duration limit) {
  if (tls_ && handshake_done_ && !closed_ && socket().is_open()) {
    expires_after(limit);
    // Sends close_notify, then waits for the peer's (or its EOF); a client
    // that does neither is cut off by the deadline.
    auto [ec] = co_await tls_->async_shutdown(kNoThrow);
    (void)ec;
  }
  close();
}

awaitable<std::pair<std::error_code, std::size_t>> SessionStream::read_some(char* buf,
                                                                            std::size_t n) {
  std::error_code ec;
  std::size_t got = 0;
  if (tls_) {
    std::tie(ec, got) = co_await tls_->async_read_some(asio::buffer(buf, n), kNoThrow);
  } else {
    std::tie(ec, got) = co_await socket_.async_read_some(asio::buffer(buf, n), kNoThrow);
  }
  if (timed_out_) ec = asio::error::timed_out;
  co_return std::pair{ec, got};
}

awaitable<std::error_code> SessionStream::write_all(std::string_view data) {
  std::error_code ec;
  std::size_t n = 0;
  if (tls_) {
    std::tie(ec, n) =
        co_await asio::async_write(*tls_, asio::buffer(data.data(), data.size()), kNoThrow);
  } else {
    std::tie(ec, n) =
        co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()), kNoThrow);
  }
  (void)n;
  if (timed_out_) ec = asio::error::timed_out;
  co_return ec;
}

std::string SessionStream::tls_protocol() const {
  if (!tls_ || !handshake_done_) return {};
  return SSL_get_version(const_cast<TlsStream&>(*tls_).native_handle());
}

std::string SessionStream::tls_cipher() const {
  if (!tls_ || !handshake_done_) return {};
  const char* name = SSL_get_cipher_name(const_cast<TlsStream&>(*tls_).native_handle());
  return name ? name : "";
}

bool SessionStream::tls_resumed() const {
  return tls_ && handshake_done_ &&
         SSL_session_reused(const_cast<TlsStream&>(*tls_).native_handle()) == 1;
}

std::string SessionStream::tls_info() const {
  if (!tls_ || !handshake_done_) return {};
  return tls_protocol() + " with cipher " + tls_cipher();
}

void SessionStream::expires_after(clock::duration d) {
  auto next = clock::now() + d;
  bool sooner = next < expiry_;
  expiry_ = next;
  if (sooner) timer_.cancel();  // wake the watchdog to re-arm
}

void SessionStream::expires_within(clock::duration d) {
  if (clock::now() + d < expiry_) expires_after(d);
}

awaitable<void> SessionStream::watchdog() {
  while (!closed_) {
    timer_.expires_at(expiry_);
    co_await timer_.async_wait(kNoThrow);
    if (closed_) break;
    if (expiry_ > clock::now()) continue;  // moved, or woken to re-arm
    std::error_code ignored;
    if (!timed_out_) {
      timed_out_ = true;
      expiry_ = clock::time_point::max();
      socket().cancel(ignored);
      continue;
    }
    socket().close(ignored);
    break;
  }
}

awaitable<void> SessionStream::wait_readable(std::chrono::steady_clock::duration limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer wait(socket().get_executor(), limit);
  co_await (socket().async_wait(tcp::socket::wait_read, kNoThrow) || wait.async_wait(kNoThrow));
}

std::size_t SessionStream::available() {
  if (tls_) return 0;
  std::error_code ec;
  auto n = socket_.available(ec);
  return ec ? 0 : n;
}

void SessionStream::cancel() {
  std::error_code ec;
  socket().cancel(ec);
}

void SessionStream::close() {
  closed_ = true;
  std::error_code ec;
  socket().shutdown(tcp::socket::shutdown_both, ec);
  socket().close(ec);
  timer_.cancel();
}

}  // namespace tegami::net
