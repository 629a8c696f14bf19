#!/usr/bin/env bash
# The engine's GPU benchmark, in two halves (the GPU host has no Boost/yaml-cpp/Eigen to build with):
#   scripts/gpu-engine.sh bundle DIR   here: build the CUDA targets and copy binaries, the few shared
#                                      libraries they need and the HF baseline script into DIR (a
#                                      git-ignored folder of the checkout the device tool sends, e.g.
#                                      build-engine-gpu/, carried with the call)
#   DIR/run.sh                         there: GPU tests, bench_engine_cuda (decode/prefill/migration vs
#                                      ceilings measured in the same run), the HF transformers baseline,
#                                      sllmsim engine generate/migrate, a checkpoint through the loader,
#                                      memcheck and an ncu look at the decode kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = bundle ] && [ -n "${2:-}" ] || { echo "usage: scripts/gpu-engine.sh bundle DIR" >&2; exit 2; }
out=$2
cmake -S . -B build-cuda -G Ninja -DSLLM_WERROR=ON -DSLLM_BUILD_BENCH=ON >/dev/null
ninja -C build-cuda sllmsim bench_engine_cuda engine_cuda_test migration_live_test
mkdir -p "$out/lib"
cp build-cuda/sllmsim build-cuda/tests/bench_engine_cuda build-cuda/tests/engine_cuda_test \
   build-cuda/tests/migration_live_test scripts/engine_hf_bench.py "$out/"
strip "$out/sllmsim" "$out/bench_engine_cuda" "$out/engine_cuda_test" "$out/migration_live_test"
for lib in $(ldd build-cuda/sllmsim | awk '/=> \// {print $3}' | grep -E 'yaml-cpp|boost_program_options|uring|xxhash'); do
  cp "$lib" "$out/lib/"
done
sed -n '/^#__RUN__$/,$p' "$0" | tail -n +2 > "$out/run.sh"
chmod +x "$out/run.sh"
echo "bundle in $out ($(du -sh "$out" | cut -f1)); on the device: bash $(basename "$out")/run.sh"
exit 0
#__RUN__
#!/bin/bash
# Engine GPU run (bundle made by scripts/gpu-engine.sh; see docs/engine.md).
set -uo pipefail
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
export LD_LIBRARY_PATH=$B/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}
if ! ldd $B/bench_engine_cuda | grep -q "libcublas.so.13 => /"; then
  P=$(python3 -c "import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], 'lib'))" 2>/dev/null)
  export LD_LIBRARY_PATH=$P:$LD_LIBRARY_PATH
fi
date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
ldd $B/bench_engine_cuda | grep -E "not found|cublas"
echo "== tests"; timeout 120 $B/engine_cuda_test 2>&1 | tail -25
timeout 60 $B/migration_live_test 2>&1 | tail -2
echo "== generate"; timeout 90 $B/sllmsim engine generate --model opt-6.7b --device cuda:0 --prompt-len 128 --new-tokens 32 2>&1
echo "== bench"; timeout 200 $B/bench_engine_cuda --model opt-6.7b --device cuda:0 2>&1 | tee $OUT/bench.txt
echo "== hf"; PYTHONUNBUFFERED=1 timeout 150 python3 $B/engine_hf_bench.py --engine-results $OUT/bench.txt 2>&1 | grep -v Warning | tee $OUT/hf.txt
echo "== generate batch 8 / llama"; timeout 60 $B/sllmsim engine generate --model opt-6.7b --device cuda:0 --prompt-len 128 --new-tokens 32 --batch 8 2>&1 | grep -E "prefill|decode|tokens"
timeout 60 $B/sllmsim engine generate --model llama-2-7b --device cuda:0 --prompt-len 128 --new-tokens 32 2>&1 | grep -E "model|prefill|decode|tokens"
echo "== migrate"; timeout 120 $B/sllmsim engine migrate --model opt-6.7b --device cuda:0 --prompt-len 992 --new-tokens 600 --at-token 8 2>&1
echo "== memcheck"; timeout 100 compute-sanitizer --tool memcheck $B/engine_cuda_test --gtest_filter='*MatchesCpuBackend/0:*MatchesCpuBackend/5:*Greedy*' 2>&1 | tail -8
echo "== checkpoint through the loader"; rm -rf /tmp/sllm_ckpt; ( time timeout 150 $B/sllmsim ckpt synth --model opt-6.7b -o /tmp/sllm_ckpt ) 2>&1 | tail -5
timeout 120 $B/sllmsim engine migrate --ckpt /tmp/sllm_ckpt --device cuda:0 --prompt-len 992 --new-tokens 600 --at-token 8 2>&1
echo "== ncu decode kernels"; timeout 150 ncu --clock-control none --graph-profiling node -k regex:'gemv|attention_rows|add_norm|qkv_post' --launch-skip 200 --launch-count 12 --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed $B/sllmsim engine generate --model opt-6.7b --device cuda:0 --prompt-len 16 --new-tokens 4 2>&1 | grep -E "gemv|attention|add_norm|qkv_post|gpu__time|dram__" | sed -E 's/\(sllm::models::[^)]*\)//' | cut -c1-150 | head -60
date -u
