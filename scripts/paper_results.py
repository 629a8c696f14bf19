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


def load(out_dir, fig):
    """Rows of a figure's results.csv as dicts (numbers converted), or None when it is missing."""
    path = results_path(out_dir, fig)
    if not os.path.exists(path):
        return None
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                if k in ("key", "fingerprint") or v == "":
                    continue
                try:
                    row[k] = float(v)
                except ValueError:
                    pass
            rows.append(row)
    return rows


def ordered(values, order):
    """Distinct values, in `order` first, then any others sorted."""
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return [v for v in order if v in seen] + sorted(v for v in seen if v not in order)


def name(table, key):
    return table.get(key, key)
