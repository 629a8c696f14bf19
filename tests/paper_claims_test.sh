#!/usr/bin/env bash
# ctest paper_claims_test: the quick variant of the paper's figures and the checks of their claims
# (scripts/reproduce-paper.sh --quick, docs/paper.md). Fails when a sweep fails or a claim does not hold,
# printing the claim and its numbers.
#
# Figures 1 and 2 run on testbed (i)'s profile, assembled by the loader model from the testbed's published
# hardware and host components measured on our H200 host (configs/profiles/a5000-testbed-i.yaml,
# docs/loader-model.md): every loader mode has laws, so no figure is skipped.
#
# usage: paper_claims_test.sh SLLMSIM OUT_DIR
set -u -o pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sllmsim="${1:?usage: paper_claims_test.sh SLLMSIM OUT_DIR}"
out="${2:?usage: paper_claims_test.sh SLLMSIM OUT_DIR}"

figures=(1 2 3 4 5)

SLLMSIM="$sllmsim" "$root/scripts/reproduce-paper.sh" --quick --clean -j 2 -o "$out" "${figures[@]}"
