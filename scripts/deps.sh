#!/usr/bin/env bash
# Installs every build and test dependency of tegami from Debian's packages.
# Idempotent: packages already present are not touched; uses sudo when not root.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev clang-format
  libasio-dev libssl-dev libc-ares-dev libsqlite3-dev libcrypt-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev libspdlog-dev nlohmann-json3-dev libexpected-dev
  libidn2-dev libunistring-dev
  libgtest-dev libgmock-dev
  # tests: real clients and peers. Installed without Recommends, so every optional
  # module a test relies on is named here: swaks speaks TLS only with Net::SSLeay and
  # IO::Socket::SSL, and some AUTH forms need Authen::SASL / Digest::HMAC.
  python3 openssl ca-certificates curl sqlite3 strace dnsmasq-base iproute2
  swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl libdigest-hmac-perl
  mpop fetchmail msmtp
  # DKIM interop (tests/unit/dkim/interop_test.cpp): dkimpy, and PyNaCl for its ed25519
  python3-dkim python3-nacl
  chromium fonts-noto-cjk
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
