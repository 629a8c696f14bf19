#!/usr/bin/env bash
# Builds sllmsim and the GPU-relevant test binaries on this machine (nvcc, no GPU) for a Hopper GPU host:
# statically linked (Boost, yaml-cpp, liburing, xxhash, libstdc++, cudart from .a files; cuBLAS stays
# dynamic, gpu-bench.sh finds it there; the cuda device backend is linked in, where a dynamic build makes
# it the module libsllm_cuda.so, docs/engine.md), stripped, copied with gpu-bench.sh into a git-ignored folder
# to carry to the device (`run` tool: carry that folder, <= 64 MiB).
#   scripts/gpu-build.sh [OUT]      OUT defaults to .gpu
#   SLLM_GPU_EXTRA_TARGETS="a_test b_test" scripts/gpu-build.sh   adds test targets (engine section)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.gpu}
build=build-gpu
cuda_lib=/usr/local/cuda/lib64

# CMAKE_FIND_LIBRARY_SUFFIXES=.a (SLLM_STATIC) hides the shared CUDA libraries from FindCUDAToolkit: name them
# (cudart itself is linked statically through CUDA::cudart_static).
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLLM_WERROR=ON -DSLLM_STATIC=ON -DSLLM_CUDA=ON \
  -DSLLM_BUILD_TESTS=ON -DSLLM_BUILD_BENCH=ON \
  -DCUDA_CUDART="$cuda_lib/libcudart.so" -DCUDA_cublas_LIBRARY="$cuda_lib/libcublas.so" -DCUDA_cublasLt_LIBRARY="$cuda_lib/libcublasLt.so"

# --- loader section ---
targets=(sllmsim ckpt_format_test loader_pipeline_test loader_cuda_test)
# --- engine section ---
targets+=(engine_cuda_test migration_live_test bench_engine_cuda)
# --- further sections append their targets here or via SLLM_GPU_EXTRA_TARGETS ---
read -r -a extra <<<"${SLLM_GPU_EXTRA_TARGETS:-}"
targets+=("${extra[@]}")

ninja -C "$build" -j"$(nproc)" "${targets[@]}"
rm -rf "$out/bin"
mkdir -p "$out/bin"
cp "$build/sllmsim" "$out/bin/"
for t in "${targets[@]}"; do
  [ "$t" = sllmsim ] || cp "$build/tests/$t" "$out/bin/"
done
strip "$out"/bin/*
cp scripts/gpu-bench.sh scripts/engine_hf_bench.py "$out/"
echo "built into $out:"
du -sh "$out"/bin/* "$out"
