#!/usr/bin/env bash
# Slurm's sbatch for tests without Slurm (tests/sweep_cluster_test.cpp puts it on PATH as `sbatch`): runs
# the job at once, on this machine, instead of queueing it. Understands what scripts/slurm-sweep.sh uses:
# --wrap=CMD, --array=MIN-MAX[:STEP] (tasks run one after another with the SLURM_ARRAY_* variables Slurm
# sets), --dependency=afterok:ID (the job runs only if job ID succeeded), --output=FILE (%a: the task id),
# --parsable; other options are ignored. Prints the job id. Jobs and failures are recorded in
# $FAKE_SBATCH_STATE (a directory), and each command line is appended to $FAKE_SBATCH_STATE/calls.
set -euo pipefail
state=${FAKE_SBATCH_STATE:?set FAKE_SBATCH_STATE to a directory}
mkdir -p "$state"
printf '%s\n' "$*" >>"$state/calls"

wrap="" array="" dependency="" output=/dev/null
for arg in "$@"; do
  case "$arg" in
    --wrap=*) wrap=${arg#--wrap=} ;;
    --array=*) array=${arg#--array=} ;;
    --dependency=*) dependency=${arg#--dependency=} ;;
    --output=*) output=${arg#--output=} ;;
  esac
done
[ -n "$wrap" ] || { echo "fake sbatch: only --wrap jobs are supported" >&2; exit 1; }

id=$(($(cat "$state/next-id" 2>/dev/null || echo 1000) + 1))
echo "$id" >"$state/next-id"

if [ -n "$dependency" ]; then
  [[ "$dependency" =~ ^afterok:([0-9]+)$ ]] || { echo "fake sbatch: only afterok:ID is supported" >&2; exit 1; }
  if [ -e "$state/failed-${BASH_REMATCH[1]}" ] || [ ! -e "$state/done-${BASH_REMATCH[1]}" ]; then
    touch "$state/never-ran-$id"  # Slurm would keep it pending forever
    echo "$id"
    exit 0
  fi
fi

run() {  # run the job's command; record a failure
  sh -c "$wrap" >"${output//%a/${SLURM_ARRAY_TASK_ID:-}}" 2>&1 || touch "$state/failed-$id"
}
if [ -n "$array" ]; then
  [[ "$array" =~ ^([0-9]+)-([0-9]+)(:([0-9]+))?$ ]] || { echo "fake sbatch: --array=$array" >&2; exit 1; }
  min=${BASH_REMATCH[1]} max=${BASH_REMATCH[2]} step=${BASH_REMATCH[4]:-1}
  count=$(((max - min) / step + 1))
  for ((task = min; task <= max; task += step)); do
    SLURM_JOB_ID=$id SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$task SLURM_ARRAY_TASK_MIN=$min \
      SLURM_ARRAY_TASK_MAX=$max SLURM_ARRAY_TASK_STEP=$step SLURM_ARRAY_TASK_COUNT=$count run
  done
else
  SLURM_JOB_ID=$id run
fi
touch "$state/done-$id"
echo "$id"
