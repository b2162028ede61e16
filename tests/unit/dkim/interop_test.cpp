// Interop with an independent implementation: dkimpy (Debian python3-dkim,
// with python3-nacl for ed25519) verifies what DkimSigner signs, and
// DkimVerifier verifies what dkimpy signs, for rsa-sha256 and
// ed25519-sha256, in both canonicalisations dkimpy offers.
//
// dkimpy runs under /usr/bin/python3 (Debian's, where apt installs it).
// Missing: a failure under CI=true (scripts/deps.sh installs it), a skip
// elsewhere, as in the integration harness.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "dkim/dkim_signer.hpp"
#include "dkim_test_util.hpp"

namespace tegami::dkim {
namespace {

using mailauth::DkimResult;

constexpr const char* kPython = "/usr/bin/python3";

const char* kScript = R"(
import base64, re, sys, time
import dkim
mode = sys.argv[1]
msg = open(sys.argv[2], 'rb').read()
if mode == 'verify':
    rec = open(sys.argv[3], 'rb').read()
    ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec)
    sys.exit(0 if ok else 1)
key = open(sys.argv[3], 'rb').read()
alg = sys.argv[4].encode()
if alg == b'ed25519-sha256':
    der = base64.b64decode(b''.join(re.findall(rb'^[A-Za-z0-9+/=]+$', key, re.M)))
    key = base64.b64encode(der[-32:])
sig = dkim.sign(msg, b'sel', b'example.com', key, signature_algorithm=alg,
                canonicalize=(sys.argv[5].encode(), sys.argv[6].encode()),
                include_headers=[b'from', b'to', b'subject', b'date'])
sys.stdout.buffer.write(sig + msg)
)";

bool ci() {
  const char* c = std::getenv("CI");
  return c && (std::string(c) == "true" || std::string(c) == "1");
}

struct Tmp {
  std::filesystem::path dir;
  Tmp() {
    char t[] = "/tmp/tegami-dkimpy-XXXXXX";
    dir = ::mkdtemp(t);
  }
  ~Tmp() { std::filesystem::remove_all(dir); }
  std::string write(const std::string& name, const std::string& data) const {
    auto p = (dir / name).string();
    std::ofstream(p, std::ios::binary) << data;
    return p;
  }
};

// Runs a shell command; its exit status and stdout.
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, out};
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class DkimInterop : public ::testing::TestWithParam<DkimKeyType> {
 protected:
  void SetUp() override {
    auto [rc, out] = run(std::string(kPython) + " -c 'import dkim, nacl' 2>&1");
    if (rc != 0) {
      if (ci()) FAIL() << "dkimpy missing (Debian python3-dkim python3-nacl): " << out;
      GTEST_SKIP() << "dkimpy missing (Debian python3-dkim python3-nacl)";
    }
    script_ = tmp_.write("dkimpy.py", kScript);
  }
  PrivateKey key() const { return *PrivateKey::generate(GetParam(), 2048); }
  std::string alg() const {
    return GetParam() == DkimKeyType::kRsa ? "rsa-sha256" : "ed25519-sha256";
  }
  Tmp tmp_;
  std::string script_;
};

const std::string kMessage =
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.net\r\n"
    "Subject: =?UTF-8?B?5omL57SZ?=\r\n"
    "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
    "Message-ID: <interop@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "\r\n"
    "Line one  with   spaces \r\n"
    "\tindented\r\n"
    "\r\n"
    "\r\n";

TEST_P(DkimInterop, DkimpyVerifiesOurs) {
  auto k = key();
  DkimSigner s(
      {.domain = "example.com", .selector = "sel", .key = k, .timestamp = std::time(nullptr)});
  s.feed(kMessage);
  s.finish();
  auto field = s.signature_field();
  ASSERT_TRUE(field);
  auto msg = tmp_.write("signed.eml", *field + kMessage);
  auto rec = tmp_.write("record.txt", *k.txt_record());
  auto [rc, out] =
      run(std::string(kPython) + " " + script_ + " verify " + msg + " " + rec + " 2>&1");
  EXPECT_EQ(rc, 0) << out << "\n" << *field;
  // Tampered: dkimpy must refuse it too (the check can fail).
  std::string bad = *field + kMessage;
  bad.replace(bad.find("Line one"), 8, "Line 1!!");
  auto bad_path = tmp_.write("bad.eml", bad);
  EXPECT_EQ(
      run(std::string(kPython) + " " + script_ + " verify " + bad_path + " " + rec + " 2>&1").first,
      1);
}

TEST_P(DkimInterop, WeVerifyDkimpys) {
  auto k = key();
  std::string pem = *k.to_pem();
  auto key_path = tmp_.write("key.pem", pem);
  if (GetParam() == DkimKeyType::kRsa) {
    // dkimpy reads PKCS #1 ("BEGIN RSA PRIVATE KEY") only.
    auto [rc, out] =
        run("openssl pkey -in " + key_path + " -traditional -out " + key_path + ".rsa 2>&1");
    ASSERT_EQ(rc, 0) << out;
    key_path += ".rsa";
  }
  auto msg = tmp_.write("plain.eml", kMessage);
  test::Zone zone;
  zone.txt("sel._domainkey.example.com", *k.txt_record());
  for (auto [hc, bc] : {std::pair{"relaxed", "relaxed"}, std::pair{"simple", "simple"},
                        std::pair{"relaxed", "simple"}}) {
    auto [rc, signed_msg] = run(std::string(kPython) + " " + script_ + " sign " + msg + " " +
                                key_path + " " + alg() + " " + hc + " " + bc);
    ASSERT_EQ(rc, 0) << signed_msg;
    ASSERT_EQ(signed_msg.rfind("DKIM-Signature:", 0), 0u) << signed_msg;
    auto r = test::run_verifier(signed_msg, zone, std::time(nullptr), 13);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].result, DkimResult::kPass) << hc << "/" << bc << ": " << r[0].reason << "\n"
                                              << signed_msg;
    EXPECT_EQ(r[0].algorithm, alg());
    std::string bad = signed_msg;
    bad.replace(bad.find("indented"), 8, "Indented");
    EXPECT_EQ(test::run_verifier(bad, zone, std::time(nullptr))[0].result, DkimResult::kFail);
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, DkimInterop,
                         ::testing::Values(DkimKeyType::kRsa, DkimKeyType::kEd25519));

}  // namespace
}  // namespace tegami::dkim
