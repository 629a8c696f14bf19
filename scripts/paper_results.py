"""Shared reading of the paper sweeps' results.csv files (scripts/plot_figures.py, scripts/check_claims.py).

Column names are those of `sllmsim sweep` (docs/paper.md): key, seed, the swept key paths, then metrics.
Standard library only.
"""
import csv
import os

MODEL = "models.deployments[0].model"
COUNT = "models.deployments[0].count"
LENGTHS = "workload.lengths"
RPS = "workload.rps"
POLICY = "policy.name"
LOADER = "cluster.profile.loader"
GPUS = "cluster.servers[0].gpus.count"
EXPERIMENT = "label.experiment"

FIGURES = {
    "1": "fig1-loading",
    "2": "fig2-ablation",
    "3": "fig3-scheduler",
    "4": "fig4-system",
    "5": "fig5-scale",
    "s": "sensitivity",
}

# Display names and orders, as in the paper.
LOADERS = ["sllm", "safetensors", "torch"]
LOADER_NAMES = {"sllm": "ServerlessLLM", "safetensors": "Safetensors", "torch": "PyTorch"}
# The last step, +pipelining, is the ServerlessLLM loader itself (`ckpt load --mode sllm`, as in profiles).
ABLATION = ["by-tensor", "bulk", "direct", "threads", "pinned", "sllm"]
ABLATION_NAMES = {
    "by-tensor": "read by tensor",
    "bulk": "+bulk read",
    "direct": "+direct I/O",
    "threads": "+multi-thread",
    "pinned": "+pinned memory",
    "sllm": "+pipeline (ServerlessLLM)",
}
# The paper's figure 1 speedups of ServerlessLLM over (Safetensors, PyTorch) that its text states (OPT-2.7B
# and LLaMA-2-70B); the other models' bars are not given as numbers.
FIG1_PAPER = {"opt-2.7b": (3.6, 6.0), "llama-2-70b": (4.7, 8.2)}
# The paper's speedup of each ablation step over the previous one (section 2 of the reference notes).
ABLATION_PAPER = {"bulk": 1.2, "direct": 2.1, "threads": 2.3, "pinned": 1.4, "sllm": 1.5}
POLICY_NAMES = {
    "serverlessllm": "ServerlessLLM",
    "serverless": "Serverless",
    "shepherd": "Shepherd*",
    "ray-serve": "Ray Serve",
    "ray-serve-cache": "Ray Serve w/ cache",
    "kserve": "KServe",
}
MODEL_NAMES = {
    "opt-2.7b": "OPT-2.7B",
    "opt-6.7b": "OPT-6.7B",
    "opt-13b": "OPT-13B",
    "opt-30b": "OPT-30B",
    "opt-66b": "OPT-66B",
    "llama-2-7b": "LLaMA-2-7B",
    "llama-2-13b": "LLaMA-2-13B",
    "llama-2-70b": "LLaMA-2-70B",
    "falcon-7b": "Falcon-7B",
    "falcon-40b": "Falcon-40B",
}
DATASET_NAMES = {"gsm8k": "GSM8K", "sharegpt": "ShareGPT"}


def results_path(out_dir, fig):
    return os.path.join(out_dir, FIGURES[fig], "results.csv")


def _read(out_dir, fig):
    path = results_path(out_dir, fig)
    if not os.path.exists(path):
        return None
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                if k in ("key", "fingerprint", "repeat") or v == "":
                    continue
                try:
                    row[k] = float(v)
                except ValueError:
                    pass
            rows.append(row)
    return rows


def load(out_dir, fig):
    """The "mean" rows of a figure's results.csv (one per parameter point: metrics averaged over the
    point's seeds, <metric>_ci95 the 95% interval half-width, docs/config.md) as dicts, numbers converted;
    None when the file is missing."""
    rows = _read(out_dir, fig)
    return None if rows is None else [r for r in rows if r["repeat"] == "mean"]


def load_runs(out_dir, fig):
    """The per-seed rows of a figure's results.csv (repeat = 0..N-1), or None when it is missing."""
    rows = _read(out_dir, fig)
    return None if rows is None else [r for r in rows if r["repeat"] != "mean"]


def point_of(row, without=()):
    """The swept parameters of a row (except `without`) as a hashable key: rows of one point and seed
    set that differ only in `without` (e.g. the policy) share it."""
    skip = {"key", "seed", "repeat"} | set(without)
    params = [k for k in row if "." in k and k not in skip]
    return tuple(sorted((k, row[k]) for k in params))


def runs_by(runs, without=(POLICY,)):
    """{(point key, repeat): {policy: row}}: the runs of each seed at each point, per policy. Policies at a
    point share their seeds (seed_by leaves the policy out), so these are paired samples."""
    out = {}
    for r in runs:
        out.setdefault((point_of(r, without), r["repeat"]), {})[r.get(POLICY)] = r
    return out


# Two-sided 95% Student-t quantiles t(0.975, df) for df = 1..30 (standard tables); beyond, the
# Cornish-Fisher expansion around the normal quantile (error < 1e-4 for df > 30).
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t975(df):
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def mean_ci(samples):
    """(mean, 95% half-width) of the finite samples; half-width nan with fewer than two."""
    xs = [x for x in samples if x == x]
    if not xs:
        return float("nan"), float("nan")
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, float("nan")
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return m, t975(len(xs) - 1) * (var / len(xs)) ** 0.5


HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"


def verdict_at_least(samples, threshold):
    """Does the mean of `samples` exceed `threshold`? holds: the whole 95% interval lies above it; fails:
    the whole interval lies below (or at) it; else inconclusive (also with one sample: no interval)."""
    m, hw = mean_ci(samples)
    if hw != hw:
        return INCONCLUSIVE, m, hw
    if m - hw > threshold:
        return HOLDS, m, hw
    if m + hw <= threshold:
        return FAILS, m, hw
    return INCONCLUSIVE, m, hw


def combine(verdicts):
    """A claim over several comparisons: fails if any fails, holds if all hold, else inconclusive."""
    if FAILS in verdicts:
        return FAILS
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return INCONCLUSIVE


def ordered(values, order):
    """Distinct values, in `order` first, then any others sorted."""
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return [v for v in order if v in seen] + sorted(v for v in seen if v not in order)


def name(table, key):
    return table.get(key, key)
