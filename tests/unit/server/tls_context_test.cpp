// TlsContext, SessionStream over TLS and server_handshake(): real OpenSSL
// handshakes over loopback TCP inside one io_context (the net layer has no
// unit directory of its own; its TLS code is tested here, where the server
// uses it).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "net/session_stream.hpp"
#include "net/tls_context.hpp"
#include "server/tls_handshake.hpp"

namespace tegami::net {
namespace {

using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tegami-tls-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes a self-signed EC P-256 certificate for `cn` and its key.
void write_pair(const std::string& cert_path, const std::string& key_path, const std::string& cn) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  std::string san = "DNS:" + cn;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  FILE* f = std::fopen(cert_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

struct Pair {
  TempDir dir;
  std::string cert = dir / "cert.pem";
  std::string key = dir / "key.pem";
  Pair() { write_pair(cert, key, "mail.example.test"); }
};

// A connected loopback pair: `server` accepted, `client` connected.
struct Sockets {
  explicit Sockets(asio::io_context& io) : server(io), client(io) {
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acc.local_endpoint());
    acc.accept(server);
  }
  tcp::socket server;
  tcp::socket client;
};

std::shared_ptr<ssl::context> client_ctx(const std::string& ca_file) {
  auto c = make_client_context(ClientTlsOptions{true, ca_file});
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return c ? *c : nullptr;
}

// Runs both coroutines to completion.
template <class S, class C>
void run_both(asio::io_context& io, S server, C client) {
  asio::co_spawn(io, std::move(server), asio::detached);
  asio::co_spawn(io, std::move(client), asio::detached);
  io.run_for(10s);
}

// Connects a client with `cctx` and records what both sides saw.
struct Outcome {
  std::error_code server_ec, client_ec;
  std::string protocol, cipher, server_info, client_fingerprint;
  bool resumed = false;
  std::string echoed;
};

Outcome connect_once(asio::io_context& io, const std::shared_ptr<ssl::context>& sctx,
                     const std::shared_ptr<ssl::context>& cctx, SSL_SESSION** session = nullptr) {
  Outcome o;
  Sockets s(io);
  auto server = std::make_shared<SessionStream>(std::move(s.server), sctx);
  auto client = std::make_shared<SessionStream>(std::move(s.client));
  client->upgrade(cctx, TlsRole::kClient, "mail.example.test");
  if (session && *session) SSL_set_session(client->native_tls(), *session);
  run_both(
      io,
      [&o, server]() -> awaitable<void> {
        o.server_ec = co_await server->handshake();
        if (o.server_ec) co_return;
        o.protocol = server->tls_protocol();
        o.cipher = server->tls_cipher();
        o.server_info = server->tls_info();
        o.resumed = server->tls_resumed();
        char buf[64];
        auto [ec, n] = co_await server->read_some(buf, sizeof buf);
        if (!ec) co_await server->write_all(std::string_view(buf, n));
        co_await server->shutdown(1s);
      },
      [&o, client, session]() -> awaitable<void> {
        o.client_ec = co_await client->handshake();
        if (o.client_ec) co_return;
        co_await client->write_all("PING\r\n");
        char buf[64];
        auto [ec, n] = co_await client->read_some(buf, sizeof buf);
        if (!ec) o.echoed.assign(buf, n);
        X509* peer = SSL_get0_peer_certificate(client->native_tls());
        if (peer) {
          unsigned char md[EVP_MAX_MD_SIZE];
          unsigned len = 0;
          X509_digest(peer, EVP_sha256(), md, &len);
          o.client_fingerprint = std::string(reinterpret_cast<char*>(md), len);
        }
        if (session) {
          // Replace (and release) the session this connection may have resumed.
          if (*session) SSL_SESSION_free(*session);
          *session = SSL_get1_session(client->native_tls());
        }
        // A clean close_notify: OpenSSL does not resume a session that
        // ended without one.
        co_await client->shutdown(1s);
      });
  io.restart();
  return o;
}

TEST(TlsContext, LoadsAPairAndFingerprintsIt) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ((*t)->fingerprint().size(), 32u * 3 - 1);  // "AB:" x 32 without the last ':'
  EXPECT_NE((*t)->current(), nullptr);
}

TEST(TlsContext, RefusesMissingOrMismatchedFiles) {
  Pair p;
  auto missing = TlsContext::load(p.cert + ".nope", p.key);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cert.pem.nope"), std::string::npos)
      << missing.error().message;

  TempDir other;
  write_pair(other / "c.pem", other / "k.pem", "other.example.test");
  auto mismatch = TlsContext::load(p.cert, other / "k.pem");
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos)
      << mismatch.error().message;

  FILE* f = std::fopen((other / "junk.pem").c_str(), "w");
  std::fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", f);
  std::fclose(f);
  EXPECT_FALSE(TlsContext::load(other / "junk.pem", p.key));
}

TEST(TlsContext, ReloadSwapsForNewSessionsOnly) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  auto held = (*t)->current();  // what an open session holds
  std::string before = (*t)->fingerprint();

  write_pair(p.cert, p.key, "mail.example.test");  // a renewed certificate
  ASSERT_TRUE((*t)->reload());
  EXPECT_NE((*t)->fingerprint(), before);
  EXPECT_EQ(certificate_fingerprint(*held), before);  // untouched
  EXPECT_NE((*t)->current(), held);

  // A broken pair on disk (key of another certificate): reload fails and
  // the server keeps what it had.
  std::string good = (*t)->fingerprint();
  TempDir other;
  write_pair(other / "c.pem", p.key, "other.example.test");
  auto r = (*t)->reload();
  EXPECT_FALSE(r);
  EXPECT_EQ((*t)->fingerprint(), good);
}

TEST(HandshakeLimiter, CapsSlotsAndFreesThemOnRelease) {
  HandshakeLimiter l(2);
  auto a = l.try_acquire();
  auto b = l.try_acquire();
  auto c = l.try_acquire();
  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
  EXPECT_FALSE(c);
  EXPECT_EQ(l.in_progress(), 2u);
  a.release();
  EXPECT_EQ(l.in_progress(), 1u);
  {
    auto d = l.try_acquire();
    EXPECT_TRUE(d);
    HandshakeLimiter::Slot moved = std::move(d);
    EXPECT_FALSE(d);
    EXPECT_EQ(l.in_progress(), 2u);
  }
  EXPECT_EQ(l.in_progress(), 1u);
  b = HandshakeLimiter::Slot{};
  EXPECT_EQ(l.in_progress(), 0u);
}

// Issue 14: one client cannot take every slot; a client with none in
// progress gets one from the reserve while the others are full; the
// deadline shrinks as the slots fill.
TEST(HandshakeLimiter, PerClientShareReserveAndShrinkingDeadline) {
  HandshakeLimiter l(16, 4);
  std::vector<HandshakeLimiter::Slot> held;
  for (int i = 0; i < 10; ++i) {
    auto s = l.try_acquire("192.0.2.1");
    if (s) held.push_back(std::move(s));
  }
  EXPECT_EQ(held.size(), 4u);  // the per-client share
  EXPECT_EQ(l.in_progress("192.0.2.1"), 4u);
  EXPECT_EQ(l.deadline(), kTlsHandshakeTimeout);
  for (int c = 2; c <= 4; ++c)
    for (int i = 0; i < 4; ++i) held.push_back(l.try_acquire("192.0.2." + std::to_string(c)));
  EXPECT_EQ(l.in_progress(), 16u);  // full
  EXPECT_EQ(l.deadline(), std::chrono::seconds(5));
  EXPECT_FALSE(l.try_acquire("192.0.2.4"));  // has some in progress: capped at max
  // New clients still get one each, up to the reserve (max / 4).
  std::vector<HandshakeLimiter::Slot> fresh;
  for (int c = 10; c < 20; ++c) {
    auto s = l.try_acquire("198.51.100." + std::to_string(c));
    if (s) fresh.push_back(std::move(s));
  }
  EXPECT_EQ(fresh.size(), 4u);
  EXPECT_EQ(l.in_progress(), 20u);
  fresh.clear();
  held.clear();
  EXPECT_EQ(l.in_progress(), 0u);
  EXPECT_EQ(l.in_progress("192.0.2.1"), 0u);
  for (int i = 0; i < 5; ++i) held.push_back(l.try_acquire("x" + std::to_string(i)));
  EXPECT_EQ(l.deadline(), std::chrono::seconds(10));  // over a quarter
}

TEST(TlsSession, HandshakeCarriesDataAndNamesProtocolAndCipher) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  asio::io_context io;
  auto sctx = (*t)->current();
  auto cctx = client_ctx(p.cert);
  Outcome o = connect_once(io, sctx, cctx);
  ASSERT_FALSE(o.server_ec) << o.server_ec.message();
  ASSERT_FALSE(o.client_ec) << o.client_ec.message();
  EXPECT_EQ(o.protocol, "TLSv1.3");
  EXPECT_EQ(o.cipher.rfind("TLS_", 0), 0u) << o.cipher;
  EXPECT_EQ(o.server_info, o.protocol + " with cipher " + o.cipher);
  EXPECT_EQ(o.echoed, "PING\r\n");
  EXPECT_FALSE(o.resumed);
}

TEST(TlsSession, ClientVerificationChecksTheName) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  asio::io_context io;
  Sockets s(io);
  auto sctx = (*t)->current();
  auto cctx = client_ctx(p.cert);
  auto server = std::make_shared<SessionStream>(std::move(s.server), sctx);
  auto client = std::make_shared<SessionStream>(std::move(s.client));
  client->upgrade(cctx, TlsRole::kClient, "wrong.example.test");
  std::error_code cec;
  run_both(
      io, [server]() -> awaitable<void> { co_await server->handshake(); },
      [client, &cec]() -> awaitable<void> {
        cec = co_await client->handshake();
        client->close();
      });
  EXPECT_TRUE(cec) << "a certificate for another name must not verify";
}

// Opportunistic TLS (outbound STARTTLS, RFC 7435): whatever the certificate,
// the handshake succeeds; peer_verification() says how far it checks out.
TEST(TlsSession, OpportunisticClientNeverRefusesAndReportsVerification) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  auto sctx = (*t)->current();
  TempDir empty;
  {  // a CA file that does not exist: not an error when nothing is enforced
    auto c = make_client_context(ClientTlsOptions{false, empty / "none.pem"});
    EXPECT_TRUE(c);
    EXPECT_FALSE(make_client_context(ClientTlsOptions{true, empty / "none.pem"}));
  }
  struct Case {
    const char* name;
    std::string ca_file;  // "": a CA file that does not have our certificate
    std::string host;
    std::string expected;  // prefix
  };
  TempDir other;
  write_pair(other / "c.pem", other / "k.pem", "other.example.test");
  for (const Case& c : {Case{"self-signed", other / "c.pem", "mail.example.test", "untrusted ("},
                        Case{"trusted, other name", p.cert, "wrong.example.test",
                             "trusted (the certificate does not name wrong.example.test)"},
                        Case{"address literal", p.cert, "127.0.0.1",
                             "trusted (the certificate does not name 127.0.0.1)"},
                        Case{"verified", p.cert, "mail.example.test", "verified"}}) {
    SCOPED_TRACE(c.name);
    auto cctx = make_client_context(ClientTlsOptions{false, c.ca_file});
    ASSERT_TRUE(cctx) << cctx.error().message;
    asio::io_context io;
    Sockets s(io);
    auto server = std::make_shared<SessionStream>(std::move(s.server), sctx);
    auto client = std::make_shared<SessionStream>(std::move(s.client));
    client->upgrade(*cctx, TlsRole::kClient, c.host);
    std::error_code cec;
    std::string verification;
    run_both(
        io, [server]() -> awaitable<void> { co_await server->handshake(); },
        [client, &cec, &verification, &c]() -> awaitable<void> {
          cec = co_await client->handshake();
          verification = peer_verification(client->native_tls(), c.host);
          client->close();
        });
    EXPECT_FALSE(cec) << cec.message();
    EXPECT_EQ(verification.rfind(c.expected, 0), 0u) << verification;
  }
  EXPECT_EQ(peer_verification(nullptr, "x"), "no TLS");
}

// A client limited to what the server must refuse: TLS 1.1 (RFC 8996), or
// TLS 1.2 without forward secrecy / with CBC and SHA-1.
TEST(TlsSession, RefusesOldProtocolsAndWeakCiphers) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  auto sctx = (*t)->current();
  struct Case {
    const char* name;
    int max_version;
    const char* ciphers;
    bool ok;
  };
  for (const Case& c : {Case{"tls1.1", TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0", false},
                        Case{"tls1.2 cbc-sha1", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", false},
                        Case{"tls1.2 aead", TLS1_2_VERSION, "DEFAULT", true}}) {
    SCOPED_TRACE(c.name);
    auto cctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* n = cctx->native_handle();
    SSL_CTX_set_min_proto_version(n, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(n, c.max_version);
    SSL_CTX_set_cipher_list(n, c.ciphers);
    cctx->set_verify_mode(ssl::verify_none);
    asio::io_context io;
    Outcome o = connect_once(io, sctx, cctx);
    EXPECT_EQ(!o.server_ec, c.ok) << o.server_ec.message();
    if (c.ok) {
      EXPECT_EQ(o.protocol, "TLSv1.2");
      EXPECT_EQ(o.cipher.rfind("ECDHE-ECDSA-", 0), 0u) << o.cipher;
    }
  }
}

TEST(TlsSession, SessionsResume) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  auto sctx = (*t)->current();
  auto cctx = client_ctx(p.cert);
  SSL_SESSION* session = nullptr;
  asio::io_context io;
  Outcome first = connect_once(io, sctx, cctx, &session);
  ASSERT_FALSE(first.server_ec);
  EXPECT_FALSE(first.resumed);
  ASSERT_NE(session, nullptr);
  Outcome second = connect_once(io, sctx, cctx, &session);
  ASSERT_FALSE(second.server_ec);
  EXPECT_TRUE(second.resumed);
  SSL_SESSION_free(session);
}

// STARTTLS: clear text first, then the same connection upgraded in place.
TEST(TlsSession, StartTlsUpgradesInPlace) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  auto sctx = (*t)->current();
  auto cctx = client_ctx(p.cert);
  asio::io_context io;
  Sockets s(io);
  auto server = std::make_shared<SessionStream>(std::move(s.server));
  auto client = std::make_shared<SessionStream>(std::move(s.client));
  std::string plain, secret;
  bool server_tls = false;
  run_both(
      io,
      [&, server]() -> awaitable<void> {
        char buf[64];
        auto [ec, n] = co_await server->read_some(buf, sizeof buf);
        plain.assign(buf, ec ? 0 : n);
        EXPECT_FALSE(server->is_tls());
        co_await server->write_all("220 go ahead\r\n");
        auto hec = co_await server->start_tls(sctx);
        EXPECT_FALSE(hec) << hec.message();
        server_tls = server->is_tls() && server->handshake_done();
        std::tie(ec, n) = co_await server->read_some(buf, sizeof buf);
        secret.assign(buf, ec ? 0 : n);
        co_await server->shutdown(1s);
      },
      [&, client]() -> awaitable<void> {
        co_await client->write_all("STARTTLS\r\n");
        char buf[64];
        co_await client->read_some(buf, sizeof buf);
        client->upgrade(cctx, TlsRole::kClient, "mail.example.test");
        auto hec = co_await client->handshake();
        EXPECT_FALSE(hec) << hec.message();
        co_await client->write_all("EHLO secret\r\n");
        char end[16];
        co_await client->read_some(end, sizeof end);  // the server's close_notify
        client->close();
      });
  EXPECT_EQ(plain, "STARTTLS\r\n");
  EXPECT_TRUE(server_tls);
  EXPECT_EQ(secret, "EHLO secret\r\n");
}

// Clear text pipelined behind STARTTLS that the server did not read goes to
// OpenSSL, which fails the handshake: it is never delivered as a command.
TEST(TlsSession, ClearTextAfterStartTlsBreaksTheHandshake) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  auto sctx = (*t)->current();
  asio::io_context io;
  Sockets s(io);
  auto server = std::make_shared<SessionStream>(std::move(s.server));
  std::error_code hec;
  asio::write(s.client, asio::buffer(std::string("MAIL FROM:<evil@example.net>\r\n")));
  run_both(
      io,
      [&, server]() -> awaitable<void> {
        server->expires_after(5s);
        hec = co_await server->start_tls(sctx);
        server->close();
      },
      []() -> awaitable<void> { co_return; });
  EXPECT_TRUE(hec);
}

TEST(TlsSession, HandshakeDeadlineCutsOffASilentClient) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  auto sctx = (*t)->current();
  asio::io_context io;
  Sockets s(io);  // the client connects and says nothing
  auto server = std::make_shared<SessionStream>(std::move(s.server), sctx);
  std::error_code hec;
  auto start = std::chrono::steady_clock::now();
  asio::co_spawn(
      io, [server]() { return server->watchdog(); }, asio::detached);
  run_both(
      io,
      [&, server]() -> awaitable<void> {
        server->expires_after(200ms);
        hec = co_await server->handshake();
        server->close();
      },
      []() -> awaitable<void> { co_return; });
  EXPECT_EQ(hec, asio::error::timed_out);
  EXPECT_TRUE(server->timed_out());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(TlsSession, OpenSessionSurvivesAReload) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key);
  ASSERT_TRUE(t);
  auto cctx = client_ctx(p.cert);
  asio::io_context io;
  Sockets s(io);
  auto sctx = (*t)->current();
  auto server = std::make_shared<SessionStream>(std::move(s.server), sctx);
  auto client = std::make_shared<SessionStream>(std::move(s.client));
  client->upgrade(cctx, TlsRole::kClient, "mail.example.test");
  sctx.reset();  // only the stream holds the old context now
  std::string got;
  std::string old_fp = (*t)->fingerprint();
  run_both(
      io,
      [&, server]() -> awaitable<void> {
        co_await server->handshake();
        // The certificate is renewed and reloaded mid-session.
        write_pair(p.cert, p.key, "mail.example.test");
        EXPECT_TRUE((*t)->reload());
        char buf[64];
        auto [ec, n] = co_await server->read_some(buf, sizeof buf);
        got.assign(buf, ec ? 0 : n);
        co_await server->write_all("still here\r\n");
        co_await server->shutdown(1s);
      },
      [&, client]() -> awaitable<void> {
        co_await client->handshake();
        co_await client->write_all("after reload\r\n");
        char buf[64];
        co_await client->read_some(buf, sizeof buf);
        client->close();
      });
  EXPECT_EQ(got, "after reload\r\n");
  EXPECT_NE((*t)->fingerprint(), old_fp);
}

}  // namespace

namespace server_tests {

using server::HandshakeResult;
using server::server_handshake;

TEST(ServerHandshake, RefusesWhenTooManyAreInProgress) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key, 1);
  ASSERT_TRUE(t);
  auto busy = (*t)->handshakes().try_acquire();  // the one slot is taken
  asio::io_context io;
  Sockets s(io);
  SessionStream stream(std::move(s.server));
  HandshakeResult r = HandshakeResult::kOk;
  std::string id = "test S1";
  asio::co_spawn(
      io, [&]() -> awaitable<void> { r = co_await server_handshake(**t, stream, id, "192.0.2.1"); },
      asio::detached);
  io.run_for(5s);
  EXPECT_EQ(r, HandshakeResult::kBusy);
  EXPECT_FALSE(stream.is_tls());
}

TEST(ServerHandshake, UpgradesAndReleasesItsSlot) {
  Pair p;
  auto t = TlsContext::load(p.cert, p.key, 1);
  ASSERT_TRUE(t);
  auto cctx = client_ctx(p.cert);
  asio::io_context io;
  Sockets s(io);
  auto stream = std::make_shared<SessionStream>(std::move(s.server));
  auto client = std::make_shared<SessionStream>(std::move(s.client));
  client->upgrade(cctx, TlsRole::kClient, "mail.example.test");
  HandshakeResult r = HandshakeResult::kFailed;
  std::string id = "test S2";
  asio::co_spawn(
      io, [stream]() { return stream->watchdog(); }, asio::detached);
  run_both(
      io,
      [&, stream]() -> awaitable<void> {
        r = co_await server_handshake(**t, *stream, id, "192.0.2.1");
        co_await stream->shutdown(1s);
      },
      [client]() -> awaitable<void> {
        co_await client->handshake();
        char buf[16];
        co_await client->read_some(buf, sizeof buf);
        client->close();
      });
  EXPECT_EQ(r, HandshakeResult::kOk);
  EXPECT_EQ((*t)->handshakes().in_progress(), 0u);
}

}  // namespace server_tests
}  // namespace tegami::net
