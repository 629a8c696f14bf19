#!/usr/bin/env bash
# Reproduces the paper's evaluation figures with sllmsim (docs/paper.md).
#
#   scripts/reproduce-paper.sh [FIGURE...] [--quick] [--clean] [-o DIR] [-j N]
#
# FIGURE: 1 loading, 2 ablation, 3 scheduler, 4 whole system, 5 efficiency/scalability (default: all),
# s: the sensitivity sweep of the assumed values (configs/paper/sensitivity.yaml; only when named).
# Figures 3-5 and s run every point over several seeds (the sweep files' `repeat:`; --quick fewer).
# Runs one sweep per figure (configs/paper/figN-*.yaml) into DIR/figN-*/, plots DIR/figN-*.png and writes
# DIR/report.md (each reproduced number beside the paper's claim). Builds nothing: uses build/sllmsim or
# $SLLMSIM. Sweeps resume: re-running skips points already complete (--clean starts the figures afresh, as
# after changing the simulator: resume only notices changed configs). Exit status 1 when a figure's sweep
# failed or a checked claim does not hold (scripts/check_claims.py prints which, with the numbers).
set -u -o pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sllmsim="${SLLMSIM:-$root/build/sllmsim}"
python=/usr/bin/python3
quick=0
clean=0
out=""
jobs="$(nproc 2>/dev/null || echo 2)"
figures=()

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --clean) clean=1 ;;
    -o) out="${2:?-o needs a directory}"; shift ;;
    -j) jobs="${2:?-j needs a number}"; shift ;;
    -h|--help) usage; exit 0 ;;
    [1-5]|s) figures+=("$1") ;;
    *) echo "reproduce-paper.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ ${#figures[@]} -gt 0 ] || figures=(1 2 3 4 5)
if [ -z "$out" ]; then
  if [ $quick = 1 ]; then out="$root/out/paper-quick"; else out="$root/out/paper"; fi
fi
if [ ! -x "$sllmsim" ]; then
  echo "reproduce-paper.sh: $sllmsim not found; build it first (cmake --build build --target sllmsim) or set SLLMSIM" >&2
  exit 2
fi
mkdir -p "$out"

declare -A sweep=([1]=fig1-loading [2]=fig2-ablation [3]=fig3-scheduler [4]=fig4-system [5]=fig5-scale
                  [s]=sensitivity)
quick_flag=()
[ $quick = 1 ] && quick_flag=(--quick)
failed=0
for f in "${figures[@]}"; do
  name="${sweep[$f]}"
  dir="$out/$name"
  [ $clean = 1 ] && rm -rf "$dir" "$out/$name.png"
  mkdir -p "$dir"
  rm -f "$dir/FAILED"
  echo "== figure $f: $name${quick_flag:+ (quick)}"
  start=$(date +%s)
  if "$sllmsim" sweep -c "$root/configs/paper/$name.yaml" -o "$dir" -j "$jobs" "${quick_flag[@]}" -q \
       > "$dir/sweep.log" 2>&1; then
    echo "   $(tail -n 1 "$dir/sweep.log") [$(( $(date +%s) - start )) s]"
  else
    failed=1
    rm -f "$dir/results.csv"
    { echo "sllmsim sweep -c configs/paper/$name.yaml failed:"; tail -n 5 "$dir/sweep.log"; } > "$dir/FAILED"
    echo "   FAILED (figure $f):" >&2
    sed 's/^/   /' "$dir/FAILED" >&2
  fi
done

"$python" "$root/scripts/plot_figures.py" "$out" "${figures[@]}" || true
checks=0
"$python" "$root/scripts/check_claims.py" "$out" "${figures[@]}" --report "$out/report.md" "${quick_flag[@]}" ||
  checks=1
echo "report: $out/report.md"
[ $failed = 0 ] && [ $checks = 0 ]
