// TLS files for `init` and `check`: a self-signed certificate made with
// OpenSSL's APIs (no shelling out to `openssl req`), and a consistency check.
//
// The certificate: EC P-256 key, X.509 v3, random 159-bit serial, subject
// CN = SAN = the hostname (DNS name, or IP address for an IP literal; RFC 6125
// §6.4.4: clients match the SAN), valid from five minutes ago for ten years,
// basicConstraints CA:FALSE, keyUsage digitalSignature, extendedKeyUsage
// serverAuth, signed with SHA-256. It is a placeholder until the operator
// installs a real one (e.g. ACME); mail clients can pin it meanwhile.
#pragma once

#include <string>

#include "core/result.hpp"

namespace tegami::cli {

// Writes key_path (PKCS#8 PEM, mode 0600) and cert_path (PEM, 0644), both
// created with O_EXCL and fsynced. On failure neither file is left behind.
Result<void> write_self_signed(const std::string& cert_path, const std::string& key_path,
                               const std::string& hostname);

// Both files readable and parseable, and the key matches the certificate.
Result<void> check_tls_pair(const std::string& cert_path, const std::string& key_path);

}  // namespace tegami::cli
