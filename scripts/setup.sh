#!/usr/bin/env bash
# Set up sllmsim on a fresh Debian 12 machine: install missing packages with apt, build (Release), then
#   scripts/setup.sh          run the default simulation (configs/default.yaml -> out/default/)
#   scripts/setup.sh --test   run the whole test suite through ctest
# CUDA paths are compiled when nvcc exists (/usr/local/cuda or Debian's nvidia-cuda-toolkit); GPU tests
# skip with a message on machines without a GPU. Open MPI gives `sllmsim sweep --mpi` (and its test).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run
case "${1:-}" in
  "") ;;
  --test) mode=test ;;
  *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

packages=(build-essential cmake ninja-build pkg-config libboost-graph-dev libboost-program-options-dev
          libyaml-cpp-dev libeigen3-dev liburing-dev libxxhash-dev libgtest-dev libgmock-dev
          nlohmann-json3-dev libzstd-dev
          python3 python3-matplotlib libopenmpi-dev openmpi-bin
          python3-dev python3-numpy python3-pytest pybind11-dev  # the Python bindings and their tests
          clang libclang-rt-14-dev)  # the sanitizer and fuzzing build of CI (.ci/run, scripts/fuzz.sh)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLLM_WERROR=ON
cmake --build build -j "$jobs"

if [ "$mode" = test ]; then
  ctest --test-dir build --output-on-failure -j "$jobs"
else
  ./build/sllmsim run -c configs/default.yaml -o out/default
fi
