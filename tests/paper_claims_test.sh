#!/usr/bin/env bash
# ctest paper_claims_test: the quick variant of the paper's figures and the checks of their claims
# (scripts/reproduce-paper.sh --quick, docs/paper.md). Figures 3-5 run 10 seeds per point and their
# claims are judged on the multi-seed estimates (holds / fails / inconclusive). Fails when a sweep fails,
# or when a claim's outcome is not "holds" and not the outcome documented with its modelled reason
# (DOCUMENTED in scripts/check_claims.py), printing the claim and its numbers.
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

# The claim checks' statistics against hand-computed values (scripts/paper_results.py): the 95% Student-t
# interval of known samples (t(0.975, 4) = 2.776445, t(0.975, 40) = 2.021075 from tables) and the three
# outcomes of a threshold test.
/usr/bin/python3 - "$root/scripts" <<'PY' || { echo "paper_results statistics are wrong" >&2; exit 1; }
import math, sys
sys.path.insert(0, sys.argv[1])
import paper_results as pr
m, hw = pr.mean_ci([1, 2, 3, 4, 5])
assert m == 3 and abs(hw - 2.776445 * math.sqrt(2.5) / math.sqrt(5)) < 1e-3, (m, hw)
assert abs(pr.t975(40) - 2.021075) < 1e-4, pr.t975(40)
assert math.isnan(pr.mean_ci([7])[1])
assert pr.verdict_at_least([10, 11, 12], 5)[0] == pr.HOLDS        # 11 +- 2.48 lies above 5
assert pr.verdict_at_least([10, 11, 12], 20)[0] == pr.FAILS       # ... below 20
assert pr.verdict_at_least([10, 11, 12], 11)[0] == pr.INCONCLUSIVE
assert pr.verdict_at_least([10], 5)[0] == pr.INCONCLUSIVE         # one seed: no interval
assert pr.combine([pr.HOLDS, pr.INCONCLUSIVE]) == pr.INCONCLUSIVE
assert pr.combine([pr.HOLDS, pr.FAILS, pr.INCONCLUSIVE]) == pr.FAILS
assert pr.combine([pr.HOLDS, pr.HOLDS]) == pr.HOLDS
PY

figures=(1 2 3 4 5)

SLLMSIM="$sllmsim" "$root/scripts/reproduce-paper.sh" --quick --clean -j 2 -o "$out" "${figures[@]}"
