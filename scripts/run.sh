#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, initialise ./var with a
# demo domain and user (password printed once), and run the server in the
# foreground on the default localhost ports. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target tegami

BIN=build/release/tegami
VAR=${TEGAMI_VAR:-./var}
CONF="$VAR/tegami.toml"
if [ ! -f "$CONF" ]; then
  "$BIN" init "$VAR" --domain example.test --hostname localhost --postmaster demo@example.test
  PASS=$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 16)
  printf '%s\n' "$PASS" | "$BIN" -c "$CONF" user add demo@example.test --password-stdin --apop
  cat <<MSG

  Demo account created (this password is shown only once):
    user:     demo@example.test
    password: $PASS

  Send:   swaks --server 127.0.0.1:2525 --to demo@example.test --from you@example.org
  Fetch:  python3 -c 'import poplib; p=poplib.POP3("127.0.0.1",2110); p.user("demo@example.test"); p.pass_("$PASS"); print(p.stat())'

MSG
fi
exec "$BIN" -c "$CONF" serve
