#!/usr/bin/env bash
# The installed package (docs/architecture.md): installs the build into a fresh prefix, checks what was
# installed, builds examples/custom_policy against it with find_package(sllmsim) and runs it (its own
# policy registered by name, beside the built-in ones); runs the installed CLI, and imports the
# installed Python package when the build has one.
#   tests/install_package_test.sh SOURCE_DIR BUILD_DIR WORK_DIR GENERATOR CXX_COMPILER [PYTHON]
set -euo pipefail
src="$1" build="$2" work="$3" generator="$4" cxx="$5" python="${6:-}"
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"

cmake --install "$build" --prefix "$prefix" > "$work/install.log"
test -x "$prefix/bin/sllmsim"
test -f "$prefix/lib/cmake/sllmsim/sllmsimConfig.cmake"
test -f "$prefix/include/sllm/sim/policy.h"
# Public headers only: the libraries' src/ folders and the CLI stay private.
if sed "s#^$prefix/##" "$build/install_manifest.txt" | grep -E "(^|/)(src|cli)/|\.cpp$"; then
  echo "install_package_test: private files were installed (above)" >&2
  exit 1
fi
"$prefix/bin/sllmsim" version > /dev/null

cmake -S "$src/examples/custom_policy" -B "$work/example" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_CXX_FLAGS="-Wall -Wextra -Wpedantic -Werror" > "$work/configure.log"
cmake --build "$work/example" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
"$work/example/custom_policy" "$src/examples/custom_policy/scenario.yaml" "$work/run"
# The installed CLI runs the same scenario with a built-in policy (its registrations work installed too).
"$prefix/bin/sllmsim" run -q -c "$src/examples/custom_policy/scenario.yaml" --set policy.name=serverless -o "$work/cli"
test -f "$work/cli/summary.json"

if [ -n "$python" ]; then
  site="$(find "$prefix" -name "_sllmsim*.so" -printf '%h\n' | head -n 1)"
  test -n "$site" || { echo "install_package_test: the Python module was not installed" >&2; exit 1; }
  (cd "$work" && PYTHONPATH="$(dirname "$site")" "$python" -c \
     "import sllmsim, sys; assert sllmsim.__file__.startswith('$prefix'), sllmsim.__file__; print('python: sllmsim', sllmsim.__version__)")
fi
echo "install_package_test: ok"
