#!/usr/bin/env bash
# Submit an sllmsim sweep to Slurm: a job array of shards, and a merge job that runs once every shard has
# succeeded (docs/paper.md, "On a cluster").
#
#   scripts/slurm-sweep.sh -c SWEEP.yaml -o OUT -n SHARDS [--quick] [--set key=value ...]
#                          [--sllmsim PATH] [--job-name NAME] [--keep-shards] [--dry-run] [-- SBATCH_OPTION ...]
#
# Task i of the array (sbatch --array=0-(SHARDS-1)) runs `sllmsim sweep --shard slurm -o OUT/shards/i`:
# the points whose index % SHARDS == i, on ${SLURM_CPUS_PER_TASK:-1} threads. The merge job
# (--dependency=afterok:ARRAY) runs `sllmsim sweep merge -o OUT OUT/shards/*`, which writes OUT/results.csv
# (the same bytes as `sllmsim sweep -j 1`) and OUT/points/, then removes OUT/shards unless --keep-shards.
# Logs go to OUT/logs/. OUT must be on a filesystem every node sees. Options after `--` go to both sbatch
# calls (--partition, --time, --account, --cpus-per-task, ...). A failed shard leaves the merge job
# pending forever (Slurm's afterok): rerun the array to resume (complete points are skipped).
#
# The sweep is checked here first (`sllmsim sweep --check`), so bad input fails before anything is queued.
# --dry-run prints the commands as a shell script instead of running them.
set -euo pipefail

usage() {
  sed -n '5,6p' "$0" | sed 's/^# *//' >&2
  exit 2
}
die() {
  echo "slurm-sweep.sh: $*" >&2
  exit 2
}

sweep="" out="" shards="" sllmsim="" name="sllmsim-sweep" keep=0 dry=0
sweep_args=() sbatch_args=()
while (($#)); do
  case "$1" in
    -c | --config) sweep=${2:?}; shift 2 ;;
    -o | --output) out=${2:?}; shift 2 ;;
    -n | --shards) shards=${2:?}; shift 2 ;;
    --quick) sweep_args+=(--quick); shift ;;
    --set) sweep_args+=(--set "${2:?}"); shift 2 ;;
    --sllmsim) sllmsim=${2:?}; shift 2 ;;
    --job-name) name=${2:?}; shift 2 ;;
    --keep-shards) keep=1; shift ;;
    --dry-run) dry=1; shift ;;
    --) shift; sbatch_args=("$@"); break ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "slurm-sweep.sh: unknown option '$1'" >&2; usage ;;
  esac
done
if [ -z "$sweep" ] || [ -z "$out" ] || [ -z "$shards" ]; then usage; fi
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || die "-n $shards: expected a positive number of shards"
[ -f "$sweep" ] || die "-c $sweep: no such sweep file"

# Absolute paths: the jobs may start elsewhere.
if [ -z "$sllmsim" ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ -x "$here/build/sllmsim" ]; then sllmsim=$here/build/sllmsim; else sllmsim=$(command -v sllmsim || true); fi
  [ -n "$sllmsim" ] || die "no sllmsim found (build/sllmsim or PATH): pass --sllmsim PATH"
fi
[ -x "$sllmsim" ] || die "--sllmsim $sllmsim: not an executable"
sllmsim=$(realpath "$sllmsim")
sweep=$(realpath "$sweep")
out=$(realpath -m "$out")

# The sweep and every point's scenario are read here, as the jobs will read them: bad input fails now
# (sllmsim's message, exit 2), not after a wait in the queue.
"$sllmsim" sweep -c "$sweep" "${sweep_args[@]}" --check >/dev/null
points=$("$sllmsim" sweep -c "$sweep" "${sweep_args[@]}" --list | wc -l)
if ((shards > points)); then
  echo "slurm-sweep.sh: $points points: $shards shards would leave some empty; submitting $points" >&2
  shards=$points
fi

# Words quoted for a shell, joined by spaces: plain words as they are, others in single quotes.
quoted() {
  local word sep=""
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_./=:,%+@-]+$ ]]; then printf '%s%s' "$sep" "$word"
    else printf "%s'%s'" "$sep" "${word//\'/\'\\\'\'}"; fi
    sep=" "
  done
}
shard_cmd="$(quoted "$sllmsim" sweep -c "$sweep" "${sweep_args[@]}" --shard slurm)"
shard_cmd+=" -o $(quoted "$out/shards")/\"\$SLURM_ARRAY_TASK_ID\" -j \"\${SLURM_CPUS_PER_TASK:-1}\""
merge_cmd="$(quoted "$sllmsim" sweep merge -o "$out") $(quoted "$out/shards")/*"
((keep)) || merge_cmd+=" && rm -rf $(quoted "$out/shards")"

array=(sbatch --parsable "--job-name=$name" "--array=0-$((shards - 1))" "--output=$out/logs/shard-%a.out"
       "${sbatch_args[@]}" "--wrap=$shard_cmd")
merge=(sbatch --parsable "--job-name=$name-merge" "--output=$out/logs/merge.out" "${sbatch_args[@]}"
       "--wrap=$merge_cmd")

if ((dry)); then
  echo "# $points points in $shards shards; results in $out/results.csv"
  echo "mkdir -p $(quoted "$out/logs")"
  echo "jobid=\$($(quoted "${array[@]}"))"
  echo "$(quoted "${merge[@]:0:2}") --dependency=afterok:\"\${jobid%%;*}\" $(quoted "${merge[@]:2}")"
  exit 0
fi

command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm submit host (or --dry-run)"
mkdir -p "$out/logs"
jobid=$("${array[@]}")
jobid=${jobid%%;*}
merge_id=$("${merge[@]:0:2}" "--dependency=afterok:$jobid" "${merge[@]:2}")
echo "submitted array job $jobid ($shards shards, $points points) and merge job ${merge_id%%;*};" \
     "results in $out/results.csv, logs in $out/logs/"
