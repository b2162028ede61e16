#!/usr/bin/env bash
# Bulk-mode benchmark of `tegami trace`: every .eml of the shared corpus,
# several times over, analysed by ONE process reading a Maildir folder of
# symlinks. Prints messages per second (a benchmark, not a test).
# Usage: bench/trace_bench.sh [TEGAMI_BIN] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/release/tegami}
rounds=${2:-10}
corpus=${TEGAMI_CORPUS:-$here/../shared/corpus}
[ -x "$bin" ] || { echo "no tegami binary at $bin (build it, or pass its path)" >&2; exit 1; }
[ -d "$corpus" ] || { echo "no corpus at $corpus" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/md/cur" "$work/md/new" "$work/md/tmp"
n=0
for r in $(seq 1 "$rounds"); do
  while IFS= read -r -d '' f; do
    n=$((n + 1))
    ln -s "$f" "$work/md/cur/$(printf '%07d' "$n").$r:2,"
  done < <(find "$corpus" -name '*.eml' -type f -print0)
done

for fmt in jsonl text; do
  start=$(date +%s.%N)
  "$bin" trace --format "$fmt" "$work/md" > "$work/out.$fmt"
  end=$(date +%s.%N)
  lines=$(wc -l < "$work/out.jsonl" 2>/dev/null || echo 0)
  awk -v n="$n" -v s="$start" -v e="$end" -v f="$fmt" \
    'BEGIN { t = e - s; printf "%-5s %d messages in %.2f s: %.0f messages/second\n", f, n, t, n / t }'
done
[ "$lines" -eq "$n" ] || { echo "expected $n JSON lines, got $lines" >&2; exit 1; }
