#include "net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <utility>

#include <fmt/format.h>
#include <asio/ip/address.hpp>

namespace tegami::net {

namespace {

// Session-id context for the server-side session cache: sessions resume only
// with a server that set the same one.
constexpr unsigned char kSessionIdContext[] = "tegami";

std::string openssl_error(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return what + ": " + buf;
}

// Settings both sides share: the protocol floor and what OpenSSL must not do.
Result<void> harden(SSL_CTX* native) {
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
    return fail(Error::perm(openssl_error("cannot set the minimum TLS version")));
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1)
    return fail(Error::perm(openssl_error("cannot set the TLS 1.2 ciphers")));
  if (SSL_CTX_set1_groups_list(native, kTlsGroups) != 1)
    return fail(Error::perm(openssl_error("cannot set the key exchange groups")));
  return {};
}

}  // namespace

Result<std::shared_ptr<ssl::context>> make_server_context(const std::string& cert_path,
                                                          const std::string& key_path) {
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  if (auto r = harden(native); !r) return fail(r.error());
  // DHE with parameters OpenSSL picks to match the certificate's strength.
  SSL_CTX_set_dh_auto(native, 1);
  // Resumption: tickets (stateless, keys are per context so a reload rotates
  // them) and the session cache for clients that resume by session id.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  if (SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext - 1) != 1)
    return fail(Error::perm(openssl_error("cannot set the session id context")));

  std::error_code ec;
  ctx->use_certificate_chain_file(cert_path, ec);
  if (ec)
    return fail(Error::perm(
        fmt::format("cannot load the TLS certificate {}: {}", cert_path, ec.message())));
  ctx->use_private_key_file(key_path, ssl::context::pem, ec);
  if (ec) {
    auto code = static_cast<unsigned long>(ec.value());
    if (ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH)
      return fail(Error::perm(
          fmt::format("the TLS key {} does not match the certificate {}", key_path, cert_path)));
    return fail(Error::perm(fmt::format("cannot load the TLS key {}: {}", key_path, ec.message())));
  }
  if (SSL_CTX_check_private_key(native) != 1)
    return fail(Error::perm(openssl_error(
        fmt::format("the TLS key {} does not match the certificate {}", key_path, cert_path))));
  return ctx;
}

Result<std::shared_ptr<ssl::context>> make_client_context(const ClientTlsOptions& options) {
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (auto r = harden(ctx->native_handle()); !r) return fail(r.error());
  std::error_code ec;
  if (options.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(options.ca_file, ec);
  }
  if (!options.verify_peer) {
    // The trust anchors only make the verification result (logged by
    // peer_verification()) meaningful; the handshake goes on whatever it is,
    // and without anchors every chain is simply "untrusted".
    ERR_clear_error();
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  if (ec)
    return fail(Error::perm(fmt::format("cannot load the trust anchors {}: {}",
                                        options.ca_file.empty() ? "(system)" : options.ca_file,
                                        ec.message())));
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

std::string peer_verification(SSL* ssl, std::string_view host) {
  if (ssl == nullptr) return "no TLS";
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return "anonymous (no certificate)";
  long result = SSL_get_verify_result(ssl);
  if (result != X509_V_OK)
    return fmt::format("untrusted ({})", X509_verify_cert_error_string(result));
  if (host.empty()) return "trusted (no name to match)";
  std::string name(host);
  std::error_code ec;
  (void)asio::ip::make_address(name, ec);
  bool literal = !ec;
  int match = literal ? X509_check_ip_asc(cert, name.c_str(), 0)
                      : X509_check_host(cert, name.data(), name.size(), 0, nullptr);
  if (match != 1) return fmt::format("trusted (the certificate does not name {})", name);
  return "verified";
}

std::string certificate_fingerprint(ssl::context& ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx.native_handle());
  if (cert == nullptr) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0) out += ':';
    out += fmt::format("{:02X}", md[i]);
  }
  return out;
}

HandshakeLimiter::Slot& HandshakeLimiter::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    release();
    limiter_ = o.limiter_;
    client_ = std::move(o.client_);
    o.limiter_ = nullptr;
  }
  return *this;
}

void HandshakeLimiter::Slot::release() {
  if (limiter_ != nullptr) limiter_->release(client_);
  limiter_ = nullptr;
}

HandshakeLimiter::Slot HandshakeLimiter::try_acquire(const std::string& client) {
  std::lock_guard lock(mu_);
  auto it = by_client_.find(client);
  const std::size_t mine = it == by_client_.end() ? 0 : it->second;
  if (mine >= per_client_) return Slot{};
  // A client with nothing in progress may use the reserve above max_.
  const std::size_t cap = mine == 0 ? max_ + max_ / 4 : max_;
  if (in_progress_ >= cap) return Slot{};
  ++in_progress_;
  ++by_client_[client];
  return Slot{this, client};
}

void HandshakeLimiter::release(const std::string& client) {
  std::lock_guard lock(mu_);
  --in_progress_;
  auto it = by_client_.find(client);
  if (it != by_client_.end() && --it->second == 0) by_client_.erase(it);
}

std::size_t HandshakeLimiter::in_progress() const {
  std::lock_guard lock(mu_);
  return in_progress_;
}

std::size_t HandshakeLimiter::in_progress(const std::string& client) const {
  std::lock_guard lock(mu_);
  auto it = by_client_.find(client);
  return it == by_client_.end() ? 0 : it->second;
}

std::chrono::seconds HandshakeLimiter::deadline() const {
  std::lock_guard lock(mu_);
  if (in_progress_ * 2 > max_) return std::chrono::seconds(5);
  if (in_progress_ * 4 > max_) return std::chrono::seconds(10);
  return kTlsHandshakeTimeout;
}

Result<std::unique_ptr<TlsContext>> TlsContext::load(std::string cert_path, std::string key_path,
                                                     std::size_t max_handshakes) {
  auto ctx = make_server_context(cert_path, key_path);
  if (!ctx) return fail(ctx.error());
  std::unique_ptr<TlsContext> t(
      new TlsContext(std::move(cert_path), std::move(key_path), max_handshakes));
  t->ctx_ = std::move(*ctx);
  return t;
}

std::shared_ptr<ssl::context> TlsContext::current() const {
  std::lock_guard lock(mu_);
  return ctx_;
}

Result<void> TlsContext::reload() {
  // Built outside the lock: reading files must not stall new sessions.
  auto ctx = make_server_context(cert_path_, key_path_);
  if (!ctx) return fail(ctx.error());
  std::shared_ptr<ssl::context> old;
  {
    std::lock_guard lock(mu_);
    old = std::exchange(ctx_, std::move(*ctx));
  }
  // `old` is freed here, or by the last session still using it.
  return {};
}

std::string TlsContext::fingerprint() const {
  auto ctx = current();
  return ctx ? certificate_fingerprint(*ctx) : std::string();
}

}  // namespace tegami::net
