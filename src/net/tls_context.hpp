// TlsContext: the server's TLS configuration (OpenSSL through asio::ssl),
// reloadable while the server runs, and the admission control for handshakes.
//
// Policy (docs/tls.md): TLS 1.2 minimum (RFC 8996 retired 1.0 and 1.1;
// RFC 8314 §4.1), the Mozilla "intermediate" cipher list for TLS 1.2 (ECDHE
// or DHE key exchange, AEAD ciphers only) and OpenSSL's TLS 1.3 suites, no
// compression (CRIME), no renegotiation (a client-initiated renegotiation is
// a cheap CPU attack), session resumption by tickets (RFC 5077 / RFC 8446
// §4.6.1) and by the server-side session cache.
//
// Invariants:
//  - current() never returns null once load() succeeded;
//  - reload() swaps the context atomically under a mutex; a session keeps the
//    shared_ptr it got when it started TLS, so a reload never pulls a context
//    out from under an open session, and a failed reload changes nothing;
//  - at most max_handshakes() handshakes run at once (a HandshakeSlot is one
//    of them), so half-open TLS connections cannot exhaust the server (the
//    Dovecot CVE-2014-3430 class); each handshake also runs under
//    kTlsHandshakeTimeout (the driver sets the stream's deadline).
//
// The outbound SMTP client (opportunistic STARTTLS, RFC 3207 §4.1) shares
// this code through make_client_context().
#pragma once

#include <asio/ssl.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.hpp"

namespace tegami::net {

namespace ssl = asio::ssl;

// A TLS handshake must finish within this (RFC 8314 gives no number; 30 s is
// generous for any real client and short for a slowloris).
inline constexpr std::chrono::seconds kTlsHandshakeTimeout{30};
// Handshakes in progress at once, server-wide. A handshake costs a few
// milliseconds of CPU and ~50 KiB of memory; past this the server refuses
// to start more rather than fall over.
inline constexpr std::size_t kMaxTlsHandshakes = 256;

// TLS 1.2 suites: Mozilla "intermediate" (forward secrecy, AEAD only).
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
// Key exchange groups, strongest-and-fastest first.
inline constexpr const char* kTlsGroups = "X25519:P-256:P-384";

// A server context from PEM files: `cert_path` holds the certificate followed
// by its chain (leaf first), `key_path` the private key, which must match.
Result<std::shared_ptr<ssl::context>> make_server_context(const std::string& cert_path,
                                                          const std::string& key_path);

// A client context for outbound SMTP. The peer's chain is checked against
// `ca_file` (PEM) or, when empty, the system trust store. With `verify_peer`
// a failed check fails the handshake; without it the connection is
// encrypted whatever the check says (opportunistic TLS, RFC 7435), and
// peer_verification() tells what it said. Only with `verify_peer` is a trust
// store that cannot be loaded an error.
struct ClientTlsOptions {
  bool verify_peer = false;
  std::string ca_file;
};
Result<std::shared_ptr<ssl::context>> make_client_context(const ClientTlsOptions& options);

// After a client handshake: how far the server's certificate checks out,
// for logs (the terms Postfix uses): "verified" (trusted chain naming
// `host`), "trusted (the certificate does not name HOST)", "untrusted
// (REASON)" (e.g. "self-signed certificate"), "anonymous (no certificate)".
// `host` is a DNS name or an IP literal; "" skips the name check.
std::string peer_verification(SSL* ssl, std::string_view host);

// "AB:CD:..." SHA-256 fingerprint of the context's certificate, "" when none.
std::string certificate_fingerprint(ssl::context& ctx);

// Handshakes one client (an IPv4 address or IPv6 network) may have in
// progress at once (issue 14: 300 idle sockets from one place must not
// take every slot).
inline constexpr std::size_t kMaxTlsHandshakesPerClient = 8;

// Counts handshakes in progress against a cap, fairly (issue 14):
//  - each client (the key the caller gives: its address or network) has
//    at most per_client() handshakes in progress;
//  - the cap max() applies to clients that already have one in progress; a
//    client with none may still start one up to max() + max()/4, so a
//    legitimate client from another network gets its handshake while the
//    slots are taken by others;
//  - deadline(): the time a handshake started now gets: the full
//    kTlsHandshakeTimeout while under a quarter of max() are in progress,
//    then shorter (10 s, and 5 s past half), like Postfix's stress mode, so
//    slots held by idle sockets turn over faster under load.
// Thread-safe.
class HandshakeLimiter {
 public:
  // Holds one handshake slot until destroyed (or released); false when the
  // limiter was full.
  class Slot {
   public:
    Slot() = default;
    Slot(HandshakeLimiter* l, std::string client) : limiter_(l), client_(std::move(client)) {}
    Slot(Slot&& o) noexcept : limiter_(o.limiter_), client_(std::move(o.client_)) {
      o.limiter_ = nullptr;
    }
    Slot& operator=(Slot&& o) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    void release();
    explicit operator bool() const { return limiter_ != nullptr; }

   private:
    HandshakeLimiter* limiter_ = nullptr;
    std::string client_;
  };

  explicit HandshakeLimiter(std::size_t max, std::size_t per_client = kMaxTlsHandshakesPerClient)
      : max_(max), per_client_(per_client) {}
  Slot try_acquire(const std::string& client = std::string());
  std::size_t in_progress() const;
  std::size_t in_progress(const std::string& client) const;
  std::size_t max() const { return max_; }
  std::size_t per_client() const { return per_client_; }
  std::chrono::seconds deadline() const;

 private:
  void release(const std::string& client);

  std::size_t max_;
  std::size_t per_client_;
  mutable std::mutex mu_;
  std::size_t in_progress_ = 0;
  std::unordered_map<std::string, std::size_t> by_client_;
};

class TlsContext {
 public:
  // Loads the pair named in [tls], or says why it cannot.
  static Result<std::unique_ptr<TlsContext>> load(std::string cert_path, std::string key_path,
                                                  std::size_t max_handshakes = kMaxTlsHandshakes);

  // The context a new TLS session uses; keep the shared_ptr for the session.
  std::shared_ptr<ssl::context> current() const;
  // Re-reads the certificate and key (SIGHUP). On failure the current
  // context stays in use and the error says why.
  Result<void> reload();
  // The current certificate's SHA-256 fingerprint (for logs).
  std::string fingerprint() const;

  HandshakeLimiter& handshakes() { return handshakes_; }
  const std::string& cert_path() const { return cert_path_; }
  const std::string& key_path() const { return key_path_; }

 private:
  TlsContext(std::string cert, std::string key, std::size_t max_handshakes)
      : cert_path_(std::move(cert)), key_path_(std::move(key)), handshakes_(max_handshakes) {}

  std::string cert_path_, key_path_;
  mutable std::mutex mu_;
  std::shared_ptr<ssl::context> ctx_;  // guarded by mu_
  HandshakeLimiter handshakes_;
};

}  // namespace tegami::net
