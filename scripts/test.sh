#!/usr/bin/env bash
# Quick start, command 2: build and run every suite.
#   1. warnings-as-errors build; unit tests, golden transcripts, integration tests with real clients
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. every libFuzzer target for a short bounded time (FUZZ_SECONDS, default 10)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-10}
JOBS=${JOBS:-$(nproc)}

step() { printf '\n==== %s ====\n' "$*"; }

step "dependencies"
./scripts/deps.sh

step "build (ci: -Werror)"
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$JOBS"

step "unit tests, transcripts, integration tests"
ctest --test-dir build/ci --output-on-failure -j 1

step "unit tests under ASan + UBSan"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$JOBS" --target unit_tests
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan -R '^unit_' --output-on-failure -j "$JOBS"

step "fuzz targets (${FUZZ_SECONDS}s each)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$JOBS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for bin in build/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  mkdir -p "$work/$name"
  if [ -d "tests/fuzz/corpus/$name" ]; then cp -r "tests/fuzz/corpus/$name/." "$work/$name/"; fi
  echo "-- fuzz_$name"
  "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" "$work/$name" 2>"$work/$name.log" || {
      tail -50 "$work/$name.log"; echo "fuzz_$name FAILED"; exit 1; }
  grep -E '^(#[0-9]+\s+DONE|Done)' "$work/$name.log" | tail -1 || true
done

step "all suites passed"
