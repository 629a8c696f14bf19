#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan + coverage: -DSLLM_FUZZ=ON) and runs a
# campaign on each, one after the other. Each harness's working corpus lives in out/fuzz/<harness>/corpus
# (kept between campaigns, so a later campaign starts where the last one stopped) and starts from its seeds
# (tests/fuzz/corpus/<harness>, tests/fuzz/regressions/<harness> and tests/fuzz/seeds.txt). A crash, leak,
# sanitizer report or hang (-timeout seconds on one input) leaves its input in out/fuzz/<harness>/ as
# crash-*, leak-*, timeout-* or oom-* and makes the script exit 1; keep it under tests/fuzz/regressions/
# once fixed, so the suite replays it.
#
#   scripts/fuzz.sh [--time SECONDS | --runs N] [--build DIR] [--no-build] [--out DIR] [HARNESS...]
#     --time SECONDS  per harness (default 60)          --runs N  executions per harness instead
#     --build DIR     the clang build (default build-fuzz/)   --no-build  use the harnesses built there as they are
#     --out DIR       corpora and findings (default out/fuzz/)
#     HARNESS         fuzz_trace, fuzz_scenario, ... (default: every tests/fuzz/fuzz_*.cpp)
# Prints one line per harness: executions, corpus size, findings; docs/reliability.md records campaigns.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

budget=(-max_total_time=60)
build="$root/build-fuzz"
out="$root/out/fuzz"
no_build=0
harnesses=()
while (($#)); do
  case "$1" in
    --time) budget=(-max_total_time="$2"); shift 2 ;;
    --runs) budget=(-runs="$2"); shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --no-build) no_build=1; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
if ((${#harnesses[@]} == 0)); then
  for src in tests/fuzz/fuzz_*.cpp; do harnesses+=("$(basename "$src" .cpp)"); done
fi

if ((no_build)); then
  :
elif [ ! -f "$build/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DSLLM_FUZZ=ON -DSLLM_CUDA=OFF -DSLLM_BUILD_TESTS=OFF -DSLLM_BUILD_BENCH=OFF -DSLLM_WERROR=ON "${launcher[@]}" > /dev/null
fi
((no_build)) || cmake --build "$build" -j "$(nproc)" --target "${harnesses[@]}"

# The extra seed globs of a harness (tests/fuzz/seeds.txt), relative to the repository root.
seed_globs() { awk -v h="$1" '$1 == h { for (i = 2; i <= NF; ++i) print $i }' tests/fuzz/seeds.txt; }

status=0
printf '%-20s %12s %8s %s\n' harness executions corpus findings
for h in "${harnesses[@]}"; do
  work="$out/$h"
  mkdir -p "$work/corpus"
  for dir in "tests/fuzz/corpus/$h" "tests/fuzz/regressions/$h"; do
    [ -d "$dir" ] && cp -n "$dir"/* "$work/corpus/" 2> /dev/null || true
  done
  while read -r pattern; do
    for f in $pattern; do [ -f "$f" ] && cp -n "$f" "$work/corpus/"; done
  done < <(seed_globs "$h")
  before=$(find "$work" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' -o -maxdepth 1 -name 'timeout-*' \
           -o -maxdepth 1 -name 'oom-*' | wc -l)
  # -timeout: one input running longer is a hang; -rss_limit_mb: growth past it is a finding (oom-*);
  # -max_len: longer seeds are cut (parsing bugs need few bytes; long inputs only slow the search).
  # libFuzzer stops at its first finding, which is then reported.
  log="$work/log-$(date -u +%Y%m%dT%H%M%SZ).txt"  # one per campaign, kept
  "$build/tests/fuzz/$h" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
      -artifact_prefix="$work/" "$work/corpus" > "$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  after=$(find "$work" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' -o -maxdepth 1 -name 'timeout-*' \
          -o -maxdepth 1 -name 'oom-*' | wc -l)
  found=$((after - before))
  printf '%-20s %12s %8s %s\n' "$h" "${execs:-0}" "$(find "$work/corpus" -type f | wc -l)" \
    "$( ((found)) && echo "$found (see $log)" || echo 0)"
  ((found)) && status=1
done
exit $status
