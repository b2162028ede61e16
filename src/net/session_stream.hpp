// SessionStream: the byte stream of one client connection, with a deadline,
// over plain TCP or TLS.
//
// Every read, write and handshake runs under the stream's deadline (DESIGN
// rule 7): a watchdog coroutine closes the socket when the deadline passes,
// so a slow or silent client costs one timer, not a thread.
//
// TLS: a stream starts plain (STARTTLS / STLS later call start_tls(), which
// upgrades it in place: RFC 3207, RFC 2595) or is constructed with a context
// for implicit TLS (RFC 8314 §3: submissions, pop3s), in which case
// handshake() must complete before the first read or write. After the
// upgrade every operation goes through the ssl::stream; the plain socket is
// never read again, so clear text a client pipelined behind STARTTLS that
// the session did not already read reaches OpenSSL as a broken record and
// fails the handshake instead of being executed (CVE-2011-0411).
//
// The stream keeps the ssl::context it was given for its whole life, so a
// certificate reload (TlsContext::reload) does not touch open sessions.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "net/asio.hpp"
#include "net/tls_context.hpp"

namespace tegami::net {

enum class TlsRole { kServer, kClient };

class SessionStream {
 public:
  using clock = std::chrono::steady_clock;
  using TlsStream = ssl::stream<tcp::socket>;

  // A plain TCP stream.
  explicit SessionStream(tcp::socket s);
  // Implicit TLS: wrapped at once; co_await handshake() before anything else.
  SessionStream(tcp::socket s, std::shared_ptr<ssl::context> tls, TlsRole role = TlsRole::kServer);
  ~SessionStream();
  SessionStream(const SessionStream&) = delete;
  SessionStream& operator=(const SessionStream&) = delete;

  // Reads what is available (at least one byte). Error on EOF, reset, timeout.
  awaitable<std::pair<std::error_code, std::size_t>> read_some(char* buf, std::size_t n);
  awaitable<std::error_code> write_all(std::string_view data);

  // Wraps the plain connection in TLS (synchronous; no I/O). `peer_name`
  // (client role only) is sent as SNI and, when the context verifies peers,
  // checked against the certificate (RFC 6125).
  void upgrade(std::shared_ptr<ssl::context> ctx, TlsRole role = TlsRole::kServer,
               std::string_view peer_name = {});
  // Runs the TLS handshake under the current deadline. On error the stream
  // is unusable: close it.
  awaitable<std::error_code> handshake();
  // upgrade() + handshake(). Pass a named shared_ptr, never a temporary
  // (g++ 12 PR 100611, see worker_pool.hpp).
  awaitable<std::error_code> start_tls(const std::shared_ptr<ssl::context>& ctx,
                                       TlsRole role = TlsRole::kServer);
  // Sends the TLS close_notify and waits (at most `limit`) for the peer's,
  // then closes. A plain stream just closes.
  awaitable<void> shutdown(clock::duration limit);

  bool is_tls() const { return tls_ != nullptr; }
  bool handshake_done() const { return handshake_done_; }
  // After the handshake: "TLSv1.3", "TLS_AES_256_GCM_SHA384" (OpenSSL names),
  // whether the session was resumed; "" / false before.
  std::string tls_protocol() const;
  std::string tls_cipher() const;
  bool tls_resumed() const;
  // "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384" (mail::ReceivedStamp::tls_info), or "".
  std::string tls_info() const;
  // The OpenSSL connection (peer certificate, session for resumption), or
  // nullptr on a plain stream.
  SSL* native_tls() { return tls_ ? tls_->native_handle() : nullptr; }

  // Sets the deadline for the next operations.
  void expires_after(clock::duration d);
  // Moves the deadline to `d` from now only if that is sooner.
  void expires_within(clock::duration d);
  bool timed_out() const { return timed_out_; }
  // Runs until the stream is closed. When the deadline passes it cancels the
  // pending operation (timed_out() becomes true, so the session can still
  // say goodbye under a new deadline); when a deadline passes again after
  // that, it closes the socket.
  awaitable<void> watchdog();

  // Bytes the client already sent that we have not read (pre-greeting
  // detection). Always 0 on a TLS stream: what waits in the kernel there is
  // TLS records, not commands.
  std::size_t available();
  // Waits until the client sent something or `limit` passed (pre-greeting check).
  awaitable<void> wait_readable(std::chrono::steady_clock::duration limit);
  void cancel();
  void close();

  const std::string& remote_ip() const { return remote_ip_; }
  std::uint16_t remote_port() const { return remote_port_; }
  const std::string& local_ip() const { return local_ip_; }
  std::uint16_t local_port() const { return local_port_; }
  tcp::socket::executor_type executor() { return socket().get_executor(); }

 private:
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : socket_; }

  tcp::socket socket_;                 // until upgrade(); moved into tls_ then
  std::shared_ptr<ssl::context> ctx_;  // kept for the stream's life
  std::unique_ptr<TlsStream> tls_;
  TlsRole role_ = TlsRole::kServer;
  bool handshake_done_ = false;
  asio::steady_timer timer_;
  clock::time_point expiry_ = clock::time_point::max();
  bool timed_out_ = false;
  bool closed_ = false;
  std::string remote_ip_, local_ip_;
  std::uint16_t remote_port_ = 0, local_port_ = 0;
};

}  // namespace tegami::net
