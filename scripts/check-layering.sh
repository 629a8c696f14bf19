#!/usr/bin/env bash
# Fails when a project include runs upward (docs/architecture.md): each library may include its own
# headers and those of the layers below it, never a layer above or beside it.
#   core  <-  sim, models, traces  <-  policies, calibrate, replay  <-  the CLI (sim/cli), tests
# The Python bindings (python/) and the installed package's example (examples/) use the simulator only.
# Policies see the simulator only through its policy API, sllm/sim/policy.h, which includes only core
# headers and sllm/sim/loading.h.
#   scripts/check-layering.sh [ROOT]
set -euo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$root"

# folder -> allowed include prefixes (sllm/<lib>/)
declare -A allowed=(
  [sim/core]="core"
  [sim/src]="core sim"
  [sim/include]="core sim"
  [models]="core models"
  [traces]="core traces"
  [policies]="core sim policies"
  [calibrate]="core sim models traces calibrate"
  [replay]="core sim models traces replay"
  [python]="core sim"
  [examples]="core sim"
)
violations=0
for dir in "${!allowed[@]}"; do
  [ -d "$dir" ] || continue
  while IFS= read -r hit; do
    file="${hit%%:*}"; rest="${hit#*:}"; line="${rest%%:*}"
    lib="$(sed -E 's#.*"sllm/([a-z_]+)/.*#\1#' <<< "$rest")"
    # sim/include and sim/src are searched under sim/, but sim/core and sim/cli are their own layers.
    case "$file" in sim/core/*) [ "$dir" = sim/core ] || continue ;; sim/cli/*) continue ;; esac
    ok=0
    for a in ${allowed[$dir]}; do [ "$lib" = "$a" ] && ok=1; done
    if [ $ok = 0 ]; then
      echo "$file:$line: includes sllm/$lib/, above or beside its layer (allowed: ${allowed[$dir]})"
      violations=$((violations + 1))
    fi
  done < <(grep -rnE '^#include "sllm/[a-z_]+/' "$dir" --include='*.h' --include='*.cpp' --include='*.cu' || true)
done
# Policies use the simulator through its policy API only.
while IFS= read -r hit; do
  echo "$hit: a policy includes a simulator internal (only sllm/sim/policy.h is the policy API)"
  violations=$((violations + 1))
done < <(grep -rnE '^#include "sllm/sim/' policies --include='*.h' --include='*.cpp' | grep -vE '"sllm/sim/policy.h"' || true)
# The policy API itself stays small: no simulator internals, and no YAML parser in the core's headers
# (a policy reads its section through ConfigNode).
while IFS= read -r hit; do
  echo "sim/include/sllm/sim/policy.h:$hit: the policy API includes a simulator internal (allowed: sllm/core/, sllm/sim/loading.h)"
  violations=$((violations + 1))
done < <(grep -nE '^#include "sllm/sim/' sim/include/sllm/sim/policy.h | grep -vE '"sllm/sim/loading.h"' || true)
while IFS= read -r hit; do
  echo "$hit: a core header includes yaml-cpp (keep it in sim/core/src/config_node.cpp)"
  violations=$((violations + 1))
done < <(grep -rnE '^#include <yaml-cpp/' sim/core/include || true)
if [ $violations -gt 0 ]; then
  echo "check-layering: $violations layering violation(s)"
  exit 1
fi
echo "check-layering: every include runs downward"
