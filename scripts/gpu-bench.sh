#!/usr/bin/env bash
# Runs on a GPU host (H100/H200) from binaries built by scripts/gpu-build.sh:
#   bash .gpu/gpu-bench.sh [SECTION...]     sections: checks tests loader ablation engine (default: all, in order),
#                                           components, replay, fastload (on request only: docs/loader-model.md,
#                                           docs/replay.md, docs/loader.md)
# Environment: SLLM_GPU_BIN (binaries; default: bin/ beside this script), SLLM_BENCH_DIR (scratch on the
# disk under test; default /tmp/sllm-bench), SLLM_BENCH_MODEL (default opt-6.7b, ~13 GB fp16), OUT (where
# logs and the table go; default $SLLM_BENCH_DIR/out).
# Each section is self-contained; later sections (engine) append their own.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SLLM_GPU_BIN:-$here/bin}
[ -x "$bin/sllmsim" ] || bin=$here/../.gpu/bin
# Scratch on a real disk (not tmpfs) with room for the source and the checkpoint (~2x the model).
pick_work() {
  local d
  for d in /tmp /var/tmp "$PWD"; do
    [ -d "$d" ] || continue
    [ "$(df --output=fstype "$d" | tail -1)" = tmpfs ] && continue
    [ "$(df --output=avail -BG "$d" | tail -1 | tr -dc 0-9)" -ge 30 ] && { echo "$d/sllm-bench"; return; }
  done
  echo /tmp/sllm-bench
}
work=${SLLM_BENCH_DIR:-$(pick_work)}
model=${SLLM_BENCH_MODEL:-opt-6.7b}
device=${SLLM_BENCH_DEVICE:-cuda:0}  # cpu: a dry run of the script on a machine without a GPU
out=${OUT:-$work/out}
mkdir -p "$work" "$out"
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(checks tests loader ablation engine)
sllmsim="$bin/sllmsim"
export SLLM_BINARY=$sllmsim

# cuBLAS is linked dynamically: the CUDA toolkit's copy, or the one PyTorch's pip wheels bring.
find_cublas() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           $(python3 -c 'import nvidia.cublas as m; print(*[p + "/lib" for p in m.__path__])' 2>/dev/null); do
    if ls "$d"/libcublas.so.13* >/dev/null 2>&1; then echo "$d"; return; fi
  done
  d=$(find / -xdev -name 'libcublas.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$d" ] && dirname "$d"
}
cublas_dir=$(find_cublas)
[ -n "$cublas_dir" ] && export LD_LIBRARY_PATH=$cublas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

stamp() { echo "== $(date -u +%H:%M:%S) $*"; }
timed() {  # timed LABEL CMD...: runs CMD, prints "LABEL N.NN s"
  local label=$1 t0 rc
  shift
  t0=$(date +%s.%N)
  "$@"
  rc=$?
  echo "$label $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || python3 -c "print(round($(date +%s.%N) - $t0, 2))") s"
  return $rc
}
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

section_checks() {
  stamp "checks"
  nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.max,pcie.link.width.max --format=csv
  echo "kernel $(uname -r); $(nproc) cores; $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "libcublas: ${cublas_dir:-NOT FOUND}"
  ldd "$sllmsim" | grep -E "not found|cublas|cudart|stdc" || true
  "$sllmsim" version
  df -hT /tmp /var/tmp "$PWD" "$work" 2>/dev/null
  dd if=/dev/zero of="$work/odirect.probe" bs=1M count=64 oflag=direct status=none && \
    dd if="$work/odirect.probe" of=/dev/null bs=1M iflag=direct status=none && echo "O_DIRECT: ok on $work" || echo "O_DIRECT: REFUSED on $work"
  rm -f "$work/odirect.probe"
  if (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then echo "drop_caches: writable"; else echo "drop_caches: NOT writable"; fi
  python3 -c 'import torch, safetensors; print("python", __import__("sys").version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(), "safetensors", safetensors.__version__)'
}

section_tests() {
  stamp "tests"
  local t rc=0
  for t in ckpt_format_test loader_pipeline_test loader_cuda_test; do
    [ -x "$bin/$t" ] || { echo "$t: missing"; rc=1; continue; }
    (cd "$work" && "$bin/$t" --gtest_brief=1) 2>&1 | tail -25 | tee "$out/$t.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  done
  return $rc
}

# $work/model.safetensors (random weights, the source) and its conversion $work/ckpt; "fresh" remakes them.
make_checkpoint() {
  local src=$work/model.safetensors ckpt=$work/ckpt
  [ "${1:-}" = fresh ] && rm -rf "$src" "$ckpt"
  [ -f "$ckpt/index.json" ] && return 0
  stamp "synthesise $model as safetensors (the source)"
  timed synth "$sllmsim" ckpt synth --model "$model" --format safetensors -o "$src" || return 1
  stamp "convert"
  timed convert "$sllmsim" ckpt convert "$src" -o "$ckpt" || return 1
  "$sllmsim" ckpt inspect "$ckpt" --summary
}

section_loader() {
  local src=$work/model.safetensors ckpt=$work/ckpt log=$out/loader.log
  make_checkpoint fresh || return 1
  : >"$log"
  stamp "loader: sllm (pipelined) cold + warm, baselines, GPU checksum vs source"
  drop_caches
  timeout 300 "$sllmsim" ckpt load "$ckpt" --device "$device" --mode sllm --repeat 4 --compare "$src" 2>&1 | tee -a "$log"
  # The disk's throughput drifts by 10-20% within minutes, more than the loader's overhead: the cold load is
  # compared with the raw read measured just before it in the same invocation, in several rounds, and the
  # table reports the median of those paired ratios.
  local round pairs=${SLLM_PAIRED_ROUNDS:-5}
  stamp "loader: $pairs rounds of (raw O_DIRECT read, then a cold pipelined load)"
  for round in $(seq "$pairs"); do
    timeout 150 "$sllmsim" ckpt load "$ckpt" --device "$device" --mode sllm --drop-caches 2>&1 |
      sed "s/^result /paired round $round result /" | tee -a "$log"
  done
  stamp "loader: io backends, cold"
  for io in uring threads; do
    echo "io=$io" >>"$log"
    timeout 120 "$sllmsim" ckpt load "$ckpt" --device "$device" --mode sllm --io "$io" --drop-caches --no-baselines 2>&1 |
      sed "s/^run /io $io run /" | tee -a "$log"
  done
  stamp "loader: python safetensors.torch.load_file + .to('cuda')"
  timeout 200 python3 - "$src" <<'PY' 2>&1 | tee -a "$log"
import os, sys, time, torch
from safetensors.torch import load_file
path = sys.argv[1]
torch.zeros(1, device="cuda")  # CUDA context outside the timing, as in sllmsim
for label in ("cold", "warm"):
    if label == "cold":
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    t0 = time.perf_counter()
    d = load_file(path)
    d = {k: v.to("cuda") for k, v in d.items()}
    torch.cuda.synchronize()
    t = time.perf_counter() - t0
    n = sum(v.numel() * v.element_size() for v in d.values())
    print(f"python_safetensors {label} seconds={t:.4f} gbps={n / t / 1e9:.3f}", flush=True)
    del d
    torch.cuda.empty_cache()
PY
  loader_table
}

# The paper's ablation: every step loaded cold in several rounds, the steps of a round back to back, so
# that each step is compared with the one before it in the same round (the disk drifts between rounds).
section_ablation() {
  local ckpt=$work/ckpt log=$out/loader.log round mode rounds=${SLLM_ABLATION_ROUNDS:-5}
  make_checkpoint || return 1
  stamp "ablation: each step cold, $rounds rounds"
  for round in $(seq "$rounds"); do
    for mode in by-tensor bulk direct threads pinned sllm; do
      timeout 150 "$sllmsim" ckpt load "$ckpt" --device "$device" --mode "$mode" --drop-caches --no-baselines 2>&1 |
        sed "s/^run /ablation $mode round $round run /" | tee -a "$log"
    done
  done
  stamp "ablation: the loaders users pick today, on the same files, cold"
  for mode in safetensors torch; do
    timeout 150 "$sllmsim" ckpt load "$ckpt" --device "$device" --mode "$mode" --drop-caches --no-baselines 2>&1 |
      sed "s/^run /foreign $mode run /" | tee -a "$log"
  done
  loader_table
}

# Prints (and writes to $out/loader-table.md) the loader table from every run logged so far.
loader_table() {
  stamp "loader: table"
  python3 - "$out/loader.log" "$model" <<'PY' | tee "$out/loader-table.md"
import re, sys, subprocess, datetime, statistics
log, model = open(sys.argv[1]).read(), sys.argv[2]
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
except OSError:
    gpu = "no GPU"
def fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
res = [fields(l) for l in log.splitlines() if l.startswith("result ")]
paired = [fields(l) for l in log.splitlines() if re.match(r"paired round \d+ result ", l)]
def secs(pattern):  # the fastest of the matching runs
    runs = [(float(m.group(1)), float(m.group(2))) for m in re.finditer(pattern + r": ([0-9.]+) s, ([0-9.]+) GB/s", log)]
    return min(runs) if runs else (None, None)
py = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in re.finditer(r"python_safetensors (\w+) seconds=([0-9.]+) gbps=([0-9.]+)", log)}
cmp = re.search(r"compare: .*", log)
print(f"Loader benchmark, {model} ({gpu}), {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
print("| measurement | seconds | GB/s | ratio | target | met |\n|---|---|---|---|---|---|")
def row(name, s, g, ratio="", target="", ok=""):
    print(f"| {name} | {'' if s is None else f'{s:.3f}'} | {'' if g is None else f'{g:.2f}'} | {ratio} | {target} | {ok} |")
total = float(res[0]["gbps"]) * float(res[0]["seconds"]) if res else None
if res:
    raw, h2d = float(res[0]["raw_read_gbps"]), float(res[0]["copy_gbps"])
    row("pinned host-to-device copy", None, h2d)
    cold, warm = res[0], min(res[1:], key=lambda r: float(r["seconds"])) if len(res) > 1 else None
    if warm:
        w = float(warm["gbps"])
        row("sllm pipelined, warm (DRAM pool)", float(warm["seconds"]), w, f"{100*w/h2d:.1f}% of H2D", ">= 90%", "yes" if w >= 0.9 * h2d else "NO")
        row("  of which device allocation", float(warm["alloc_seconds"]), None)
        row("  first load's device allocation", float(cold["alloc_seconds"]), None)
    if "warm" in py and warm:
        x = py["warm"][0] / float(warm["seconds"])
        row("python safetensors + .to(cuda), warm", *py["warm"], f"sllm warm {x:.1f}x faster", ">= 5x", "yes" if x >= 5 else "NO")
if paired:
    ratios = [float(p["gbps"]) / float(p["raw_read_gbps"]) for p in paired]
    for i, p in enumerate(paired, 1):
        row(f"round {i}: raw O_DIRECT read ({p['raw_read_io']}), then sllm pipelined cold", float(p["seconds"]), float(p["gbps"]),
            f"raw {float(p['raw_read_gbps']):.2f} GB/s; {100*ratios[i-1]:.1f}%")
    m = statistics.median(ratios)
    row(f"sllm pipelined cold vs raw read, median of {len(ratios)} paired rounds", statistics.median(float(p["seconds"]) for p in paired),
        statistics.median(float(p["gbps"]) for p in paired), f"{100*m:.1f}% ({100*min(ratios):.1f}-{100*max(ratios):.1f}%)",
        ">= 95%", "yes" if m >= 0.95 else "NO")
    if "cold" in py:
        x = py["cold"][0] / statistics.median(float(p["seconds"]) for p in paired)
        row("python safetensors + .to(cuda), cold", *py["cold"], f"sllm cold {x:.2f}x faster (median round)", ">= 1x", "yes" if x >= 1 else "NO")
for io in ("uring", "threads"):
    s, g = secs(f"io {io} run 1/1")
    if s is not None:
        row(f"pipelined cold, io={io}", s, g)
steps = ("by-tensor", "bulk", "direct", "threads", "pinned", "sllm")
by_round = {}
for m in re.finditer(r"ablation (\S+) round ([0-9]+) run 1/1: ([0-9.]+) s", log):
    by_round.setdefault(int(m.group(2)), {})[m.group(1)] = float(m.group(3))
full = [r for r in sorted(by_round) if all(s in by_round[r] for s in steps)]
if full:
    for i, mode in enumerate(steps):
        xs = sorted(by_round[r][mode] for r in full)
        med = statistics.median(xs)
        spread = f"median of {len(xs)} rounds ({xs[0]:.2f}-{xs[-1]:.2f} s)"
        if i == 0:
            row(f"ablation: {mode}, cold", med, total / med if total else None, f"{spread}; baseline")
            continue
        prev = steps[i - 1]
        gains = sorted(by_round[r][prev] / by_round[r][mode] for r in full)  # > 1: faster than the step before, same round
        g = statistics.median(gains)
        faster = sum(x >= 1 for x in gains)
        row(f"ablation: {mode}, cold", med, total / med if total else None,
            f"{spread}; {g:.2f}x the previous step (paired median; {gains[0]:.2f}-{gains[-1]:.2f}; faster in {faster} of {len(gains)})",
            ">= 1x", "yes" if g >= 1 else "NO")
elif by_round:
    print("| ablation | | | incomplete rounds | | |")
for mode in ("safetensors", "torch"):
    s, g = secs(f"foreign {mode} run 1/1")
    if s is not None:
        row(f"sllmsim --mode {mode} (same files), cold", s, g)
print(f"\nGPU bytes vs source: {cmp.group(0) if cmp else 'compare did not run'}")
PY
}

# --- engine section (docs/engine.md) ---
# CUDA-vs-CPU engine tests, bench_engine_cuda (decode vs weight bytes / copy bandwidth, 1024-token prefill vs
# cuBLAS GEMM throughput, a live migration with ~1,000 tokens of context, all measured in one process), the
# Hugging Face transformers baseline on the same shapes, and real migrations from the CLI (random weights,
# then the loader section's checkpoint when it exists, the destination loading through the loader).
section_engine() {
  stamp "engine: tests"
  timeout 180 "$bin/engine_cuda_test" 2>&1 | tail -3
  timeout 60 "$bin/migration_live_test" 2>&1 | tail -1
  if [ "$device" = cpu ]; then
    echo "engine: bench and HF baseline skipped on cpu (dry run)"
  else
  stamp "engine: bench_engine_cuda --model $model"
  timeout 300 "$bin/bench_engine_cuda" --model "$model" --device "$device" 2>&1 | tee "$out/engine_bench.txt"
  stamp "engine: Hugging Face transformers baseline (same shapes, random weights)"
  PYTHONUNBUFFERED=1 timeout 240 python3 "$here/engine_hf_bench.py" --engine-results "$out/engine_bench.txt" 2>&1 |
    grep -v Warning | tee "$out/engine_hf.txt"
  fi
  stamp "engine: sllmsim engine migrate"
  timeout 180 "$sllmsim" engine migrate --model "$model" --device "$device" --prompt-len 992 --new-tokens 600 \
    --at-token 8 2>&1 | tee "$out/engine_migrate.txt"
  if [ -d "$work/ckpt" ]; then
    timeout 240 "$sllmsim" engine migrate --ckpt "$work/ckpt" --model "$model" --device "$device" --prompt-len 500 \
      --new-tokens 1500 --at-token 8 --stop-tokens 20 2>&1 | tee -a "$out/engine_migrate.txt"
  fi
  grep -q "identical: no" "$out/engine_migrate.txt" && return 1
  return 0
}

# A scenario run for real on this host with the simulator's policies deciding, beside its simulation
# (docs/replay.md): configs/replay/h200.yaml (or replay-h200.yaml beside this script when the checkout lacks
# it), checkpoints synthesised into $work/replay-ckpt, outputs and the comparison in $out/replay.
section_replay() {
  stamp "replay"
  local root cfg profile
  root=$(cd "$here/.." && pwd)
  cfg=$root/configs/replay/h200.yaml
  [ -f "$cfg" ] || cfg=$here/replay-h200.yaml
  profile=$root/configs/profiles/h200x2-2026-11-22.yaml
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "disk: $(df -h --output=avail,fstype "$work" | tail -1); $(nproc) cores; $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  local dev=cuda
  [ "$device" = cpu ] && dev=cpu
  mkdir -p "$out/replay"
  timed "replay+compare" "$sllmsim" replay -c "$cfg" --set "cluster.profile=$profile" -o "$out/replay" \
    --checkpoints "$work/replay-ckpt" --device "$dev" --compare 2>&1 | tee "$out/replay/log.txt"
  local rc=${PIPESTATUS[0]}
  rm -rf "$work/replay-ckpt"
  return "$rc"
}

# --- components section (docs/loader-model.md) ---
# The loader model's components on this host: host probes, the storage at memory speed (tmpfs accepts
# O_DIRECT here) and the real disk separately, and the real loader's per-mode times on each (synthetic
# checkpoints, cold and warm) for the out-of-sample check. Writes $out/components.yaml and
# $out/components.{tmpfs,disk}.measurements.csv; `sllmsim calibrate validate --components` checks them.
section_components() {
  local shm=${SLLM_TMPFS_DIR:-/dev/shm}
  stamp "components: tmpfs $shm ($(df -h --output=avail "$shm" | tail -1) free), disk $work"
  timeout ${SLLM_COMPONENTS_TIMEOUT:-360} "$sllmsim" calibrate components --device "$device" \
    --storage "tmpfs=$shm" --storage "disk=$work" -o "$out/components.yaml" 2>&1 | tee "$out/components.log"
  local rc=${PIPESTATUS[0]} mode ckpt=$shm/sllm-components-ckpt
  nvidia-smi --query-gpu=name,pcie.link.gen.current,pcie.link.width.current --format=csv,noheader >>"$out/components.log" 2>&1
  # Out of sample in size and shapes: a real model's checkpoint (larger than any fitted point, its own
  # tensor sizes) loaded from tmpfs in every mode, checksums off as in the fitted loads; the second load
  # of each invocation finds the checkpoint in the DRAM pool (sllm, pinned) or the page cache.
  stamp "components: ${SLLM_COMPONENTS_MODEL:-opt-2.7b} from tmpfs, every mode"
  rm -rf "$ckpt"
  timeout 120 "$sllmsim" ckpt synth --model "${SLLM_COMPONENTS_MODEL:-opt-2.7b}" -o "$ckpt" 2>&1 | tail -2 | tee -a "$out/components-ckpt.log"
  "$sllmsim" ckpt inspect "$ckpt" --summary 2>&1 | tee -a "$out/components-ckpt.log"
  for mode in by-tensor bulk direct threads pinned sllm safetensors torch; do
    timeout 60 "$sllmsim" ckpt load "$ckpt" --device "$device" --mode "$mode" --no-verify --no-baselines --repeat 2 2>&1 |
      sed "s/^/components-ckpt $mode /" | tee -a "$out/components-ckpt.log"
  done
  rm -rf "$ckpt"
  return $rc
}

# --- fastload section (docs/loader.md, "Parallelism and checksums") ---
# The loader's own speed with the storage out of the way: the checkpoint on tmpfs (which accepts O_DIRECT
# on the GPU host's kernel), so every load is bound by the host (reads are copies, checksums, host-to-device
# copies), not by a disk. Reports the pipelined mode at its defaults (threads chosen from the host and the
# storage) against min(raw O_DIRECT read of the same files at the best parallelism measured, pinned
# host-to-device copy); target >= 0.8. Every load is cold (--drop-caches empties the DRAM pool; tmpfs
# pages stay, they are the storage). SLLM_FASTLOAD_THREADS: the fixed parallelisms measured (4 8 nproc).
section_fastload() {
  local shm=${SLLM_FASTLOAD_DIR:-/dev/shm/sllm-fastload} log=$out/fastload.log t rounds=${SLLM_FASTLOAD_ROUNDS:-3}
  local ckpt=$shm/ckpt need_gb
  need_gb=$("$sllmsim" models | awk -v m="$model" '$1 == m {print int($11 * 1.1) + 2}')
  mkdir -p "$shm"
  if [ "$(df --output=fstype "$shm" | tail -1)" != tmpfs ] || [ "$(df --output=avail -BG "$shm" | tail -1 | tr -dc 0-9)" -lt "${need_gb:-30}" ]; then
    echo "fastload: $shm is not a tmpfs with ${need_gb:-30} GB free; set SLLM_FASTLOAD_DIR"; return 1
  fi
  : >"$log"
  stamp "fastload: synthesise $model into $shm"
  [ -f "$ckpt/index.json" ] || timed synth "$sllmsim" ckpt synth --model "$model" -o "$ckpt" || return 1
  echo "cpus $(nproc); $(df -hT "$shm" | tail -1)" | tee -a "$log"
  stamp "fastload: fixed parallelism (raw O_DIRECT read, pipelined load, pinned H2D at each)"
  for t in ${SLLM_FASTLOAD_THREADS:-4 8 $(nproc)}; do
    timeout 120 "$sllmsim" ckpt load "$ckpt" --device "$device" --threads "$t" --drop-caches 2>&1 |
      sed "s/^/fixed $t: /" | tee -a "$log"
  done
  stamp "fastload: defaults (threads chosen), $rounds cold loads"
  timeout 150 "$sllmsim" ckpt load "$ckpt" --device "$device" --repeat "$rounds" --drop-caches 2>&1 |
    sed "s/^/auto: /" | tee -a "$log"
  stamp "fastload: defaults without checksums, and with them checked per 32 MiB chunk (512 KiB requests)"
  timeout 90 "$sllmsim" ckpt load "$ckpt" --device "$device" --repeat 2 --drop-caches --no-verify --no-baselines 2>&1 |
    sed "s/^/noverify: /" | tee -a "$log"
  timeout 90 "$sllmsim" ckpt load "$ckpt" --device "$device" --repeat 2 --drop-caches --request-size "512 KiB" --no-baselines 2>&1 |
    sed "s/^/perchunk: /" | tee -a "$log"
  rm -rf "$shm"
  stamp "fastload: table"
  python3 - "$log" "$model" <<'PY' | tee "$out/fastload-table.md"
import re, sys, statistics, subprocess, datetime
log, model = open(sys.argv[1]).read().splitlines(), sys.argv[2]
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
except OSError:
    gpu = "no GPU"
def fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
def results(tag):
    return [fields(l) for l in log if l.startswith(tag + ": result ")]
def runs(tag):
    return [float(m.group(1)) for l in log if l.startswith(tag + ": run ") for m in [re.search(r", ([0-9.]+) GB/s", l)] if m]
def header_threads(tag):  # "16 chosen for 16 CPUs and memory storage (tmpfs), threads chosen"
    for l in log:
        m = re.match(re.escape(tag) + r": checkpoint .*?, (\d+) I/O threads( chosen for [^(]*\([^)]*\))? \(([^)]*)\)", l)
        if m:
            return m.group(1) + (m.group(2) or "") + ", " + m.group(3)
    return "?"
def raw_reads(tag):  # "uring 28.27 / threads 41.45"
    got = [re.search(r"read \((\w+), .*: ([0-9.]+) GB/s", l) for l in log if l.startswith(tag + ": raw ")]
    return " / ".join(f"{m.group(1)} {float(m.group(2)):.2f}" for m in got if m)
print(f"fastload: {model} from tmpfs ({gpu}), {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
print("| run | I/O threads, backend | raw O_DIRECT read GB/s | pinned H2D GB/s | pipelined load GB/s |\n|---|---|---|---|---|")
raws, copies = [], []
tags = sorted({l.split(":")[0] for l in log if l.startswith("fixed ")}, key=lambda t: int(t.split()[1])) + ["auto"]
for tag in tags:
    rs = results(tag)
    if not rs:
        continue
    raw, copy = float(rs[0]["raw_read_gbps"]), float(rs[0]["copy_gbps"])
    raws.append(raw); copies.append(copy)
    loads = [float(r["gbps"]) for r in rs]
    print(f"| {tag} | {header_threads(tag)} | {raw_reads(tag)} | {copy:.2f} | {', '.join(f'{x:.2f}' for x in loads)} |")
for tag, what in (("noverify", "defaults, --no-verify"), ("perchunk", "defaults, checksums per 32 MiB chunk (512 KiB requests)")):
    r = runs(tag)
    if r:
        print(f"| {what} | {header_threads(tag)} | | | {', '.join(f'{x:.2f}' for x in r)} |")
auto = [float(r["gbps"]) for r in results("auto")]
if auto and raws and copies:
    bar = min(max(raws), statistics.median(copies))
    ratio = statistics.median(auto) / bar
    print(f"\npipelined at its defaults: median {statistics.median(auto):.2f} GB/s of {len(auto)} cold loads; "
          f"bar min(best raw read {max(raws):.2f}, pinned H2D {statistics.median(copies):.2f}) = {bar:.2f} GB/s; "
          f"ratio {ratio:.2f} (target >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'})")
PY
}

rc=0
for s in "${sections[@]}"; do
  "section_$s" || { echo "section $s FAILED"; rc=1; }
done
exit $rc
