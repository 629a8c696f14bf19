#!/usr/bin/env bash
# Prints the fingerprints that show a change kept the simulator's behaviour: the event-queue fingerprint and
# the SHA-256 of requests.csv for each config in configs/, every point of the paper's sweeps (quick variants), and
# the scale benchmark's scenario at 100,000 requests. Run before and after a refactor and diff the output.
#   scripts/fingerprints.sh [BUILD_DIR]   (default build/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
sllmsim="$build/sllmsim"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The rows of a run's requests.csv, plain or compressed (output.compress: zstd): the hash is of the rows.
requests_csv() { if [ -f "$1/requests.csv.zst" ]; then zstd -dcq "$1/requests.csv.zst"; else cat "$1/requests.csv"; fi; }

for config in "$root"/configs/*.yaml; do
  name="$(basename "$config" .yaml)"
  if ! (cd "$root" && "$sllmsim" run -c "$config" -o "$work/$name") > "$work/$name.log" 2>&1; then
    printf '%s failed: %s\n' "$name" "$(tail -n 1 "$work/$name.log" | cut -c1-120)"
    continue
  fi
  printf '%s %s %s\n' "$name" "$(grep -o '"fingerprint": "[0-9a-f]*"' "$work/$name/summary.json" | cut -d'"' -f4)" \
    "$(requests_csv "$work/$name" | sha256sum | cut -c1-16)"
done
for sweep in "$root"/configs/paper/fig*.yaml; do
  name="$(basename "$sweep" .yaml)"
  if ! "$sllmsim" sweep -c "$sweep" -o "$work/$name" -j "$(nproc)" --quick -q > "$work/$name.log" 2>&1; then
    printf '%s failed: %s\n' "$name" "$(tail -n 1 "$work/$name.log" | cut -c1-120)"
    continue
  fi
  col="$(head -n 1 "$work/$name/results.csv" | tr ',' '\n' | grep -n '^fingerprint$' | cut -d: -f1)"
  printf '%s %s\n' "$name" "$(tail -n +2 "$work/$name/results.csv" | cut -d, -f"$col" | sha256sum | cut -c1-16)"
done
if [ -x "$build/tests/bench_sim_scale" ]; then
  "$build/tests/bench_sim_scale" 100000 | grep -i fingerprint || true
fi
