#!/usr/bin/python3
"""PNG plots of the paper's figures from `sllmsim sweep` results (scripts/reproduce-paper.sh runs it).

usage: plot_figures.py OUT_DIR [FIGURE...]   (FIGURE: 1-5, or s for the sensitivity sweep)
Reads OUT_DIR/fig*/results.csv (the mean rows: one per point, with 95% intervals), writes OUT_DIR/figN-*.png. Uses Debian's python3-matplotlib only.
A figure whose results are missing is skipped with a message (its sweep failed or was not run).
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paper_results as pr  # noqa: E402

COLORS = {
    "serverlessllm": "#d62728",
    "sllm": "#d62728",
    "serverless": "#1f77b4",
    "safetensors": "#1f77b4",
    "shepherd": "#2ca02c",
    "torch": "#7f7f7f",
    "ray-serve": "#7f7f7f",
    "ray-serve-cache": "#1f77b4",
    "kserve": "#9467bd",
}
MARKERS = {"serverlessllm": "o", "serverless": "s", "shepherd": "^", "ray-serve": "v", "ray-serve-cache": "D",
           "kserve": "x"}


def save(fig, out_dir, name):
    path = os.path.join(out_dir, name + ".png")
    fig.savefig(path + ".tmp.png", dpi=120, bbox_inches="tight")
    os.replace(path + ".tmp.png", path)
    plt.close(fig)
    print("wrote", path)


def plot_fig1(rows, out_dir):
    models = pr.ordered([r[pr.MODEL] for r in rows], list(pr.MODEL_NAMES))
    loaders = pr.ordered([r[pr.LOADER] for r in rows], pr.LOADERS)
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(loaders)
    for j, loader in enumerate(loaders):
        xs, ys = [], []
        for i, m in enumerate(models):
            for r in rows:
                if r[pr.MODEL] == m and r[pr.LOADER] == loader:
                    xs.append(i + (j - (len(loaders) - 1) / 2) * width)
                    ys.append(r["load_time_mean_s"])
        ax.bar(xs, ys, width, label=pr.name(pr.LOADER_NAMES, loader), color=COLORS.get(loader))
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels([pr.name(pr.MODEL_NAMES, m) for m in models], rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("loading latency (s, log scale)")
    ax.set_title("Figure 1: checkpoint loading latency, testbed (i) RAID 0 NVMe")
    ax.legend()
    ax.grid(axis="y", which="both", alpha=0.3)
    save(fig, out_dir, "fig1-loading")


def plot_fig2(rows, out_dir):
    steps = pr.ordered([r[pr.LOADER] for r in rows], pr.ABLATION)
    by = {r[pr.LOADER]: r for r in rows}
    models = sorted({r[pr.MODEL] for r in rows}) if pr.MODEL in rows[0] else []
    times = [by[s]["load_time_mean_s"] for s in steps]
    fig, ax = plt.subplots(figsize=(8, 4))
    bars = ax.bar(range(len(steps)), times, color="#d62728")
    for i, s in enumerate(steps):
        label = ""
        if i > 0:
            label = "%.2fx" % (times[i - 1] / times[i])
            if s in pr.ABLATION_PAPER:
                label += "\n(paper %.1fx)" % pr.ABLATION_PAPER[s]
        ax.annotate(label, (bars[i].get_x() + bars[i].get_width() / 2, times[i]), ha="center", va="bottom",
                    fontsize=8)
    ax.set_xticks(range(len(steps)))
    ax.set_xticklabels([pr.name(pr.ABLATION_NAMES, s) for s in steps], rotation=15)
    ax.set_yscale("log")
    ax.set_ylabel("loading latency (s, log scale)")
    title = "Figure 2: loading ablation, cold load from the SSD"
    if models:
        title += " (" + ", ".join(pr.name(pr.MODEL_NAMES, m) for m in models) + ")"
    ax.set_title(title)
    ax.set_ylim(top=max(times) * 3)
    ax.grid(axis="y", which="both", alpha=0.3)
    save(fig, out_dir, "fig2-ablation")


# Figures 3-5 plot the paper's "latency" as sllmsim's time to first token over all arrived requests (a
# timeout counted at 300 s), mean over seeds with its 95% interval as error bars (scripts/check_claims.py).
LAT = "ttft_all_censored_mean_s"
P99 = "ttft_all_censored_p99_s"


def err(r, metric, scale=1.0):
    hw = r.get(metric + "_ci95", "")
    return hw * scale if isinstance(hw, float) and hw == hw else 0.0


def plot_fig3(rows, out_dir):
    models = pr.ordered([r[pr.MODEL] for r in rows], list(pr.MODEL_NAMES))
    datasets = pr.ordered([r[pr.LENGTHS] for r in rows], ["gsm8k", "sharegpt"])
    policies = pr.ordered([r[pr.POLICY] for r in rows], ["serverlessllm", "serverless", "shepherd"])
    panels = [(d, metric) for d in datasets for metric in (LAT, P99)]
    fig, axes = plt.subplots(len(models), len(panels), figsize=(4 * len(panels), 3 * len(models)), squeeze=False)
    for i, m in enumerate(models):
        for j, (d, metric) in enumerate(panels):
            ax = axes[i][j]
            for p in policies:
                pts = sorted((r[pr.RPS], r[metric], err(r, metric)) for r in rows
                             if r[pr.MODEL] == m and r[pr.LENGTHS] == d and r[pr.POLICY] == p)
                if pts:
                    ax.errorbar([x for x, _, _ in pts], [y for _, y, _ in pts], yerr=[e for _, _, e in pts],
                                marker=MARKERS.get(p, "o"), color=COLORS.get(p), capsize=3,
                                label=pr.name(pr.POLICY_NAMES, p))
            ax.set_yscale("log")
            ax.set_title("%s, %s: %s" % (pr.name(pr.MODEL_NAMES, m), pr.name(pr.DATASET_NAMES, d),
                                         "mean" if metric == LAT else "P99"), fontsize=9)
            ax.set_xlabel("request rate (requests/s)")
            ax.set_ylabel("TTFT (s, log scale)")
            ax.grid(which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Figure 3: scheduler comparison over request rate, testbed (ii); TTFT (timeouts at 300 s), "
                 "mean over seeds ± 95% interval")
    fig.tight_layout()
    save(fig, out_dir, "fig3-scheduler")


def plot_fig4(rows, out_dir):
    models = pr.ordered([r[pr.MODEL] for r in rows], list(pr.MODEL_NAMES))
    datasets = pr.ordered([r[pr.LENGTHS] for r in rows], ["gsm8k", "sharegpt"])
    policies = pr.ordered([r[pr.POLICY] for r in rows], ["serverlessllm", "ray-serve", "ray-serve-cache", "kserve"])
    fig, axes = plt.subplots(2, len(datasets), figsize=(6 * len(datasets), 7), squeeze=False)
    width = 0.8 / len(policies)
    for j, d in enumerate(datasets):
        for row_i, (metric, ylabel, log, scale) in enumerate(
                [(LAT, "mean TTFT, timeouts at 300 s (s, log scale)", True, 1.0),
                 ("served_share", "share served within 300 s (%)", False, 100.0)]):
            ax = axes[row_i][j]
            for k, p in enumerate(policies):
                xs, ys, es = [], [], []
                for i, m in enumerate(models):
                    for r in rows:
                        if r[pr.MODEL] == m and r[pr.LENGTHS] == d and r[pr.POLICY] == p:
                            xs.append(i + (k - (len(policies) - 1) / 2) * width)
                            ys.append(r[metric] * scale)
                            es.append(err(r, metric, scale))
                ax.bar(xs, ys, width, yerr=es, capsize=2, label=pr.name(pr.POLICY_NAMES, p), color=COLORS.get(p))
            ax.set_xticks(range(len(models)))
            ax.set_xticklabels([pr.name(pr.MODEL_NAMES, m) for m in models])
            if log:
                ax.set_yscale("log")
            else:
                ax.set_ylim(0, 105)
            ax.set_ylabel(ylabel)
            ax.set_title(pr.name(pr.DATASET_NAMES, d))
            ax.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle("Figure 4: whole-system comparison, testbed (ii); mean over seeds ± 95% interval")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.legend(handles, labels, loc="upper center", ncol=len(policies), bbox_to_anchor=(0.5, 0.955), fontsize=9)
    save(fig, out_dir, "fig4-system")


def plot_fig5(rows, out_dir):
    policies = pr.ordered([r[pr.POLICY] for r in rows], ["serverlessllm", "ray-serve-cache", "kserve"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (experiment, x_key, xlabel) in zip(
            axes, [("gpus", pr.GPUS, "GPUs per server"), ("models", pr.COUNT, "deployed models (OPT-6.7B)")]):
        for p in policies:
            pts = sorted((r[x_key], r[LAT], err(r, LAT)) for r in rows
                         if r.get(pr.EXPERIMENT) == experiment and r[pr.POLICY] == p)
            if pts:
                ax.errorbar([x for x, _, _ in pts], [y for _, y, _ in pts], yerr=[e for _, _, e in pts],
                            marker=MARKERS.get(p, "o"), color=COLORS.get(p), capsize=3,
                            label=pr.name(pr.POLICY_NAMES, p))
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r[x_key] for r in rows if r.get(pr.EXPERIMENT) == experiment}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean TTFT, timeouts at 300 s (s, log scale)")
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("resource efficiency")
    axes[1].set_title("scalability")
    fig.suptitle("Figure 5: resource efficiency and scalability, testbed (ii); mean over seeds ± 95% interval")
    fig.tight_layout()
    save(fig, out_dir, "fig5-scale")


SENSITIVITY = [  # (label.factor, swept key, x label)
    ("burstiness", "workload.cv", "inter-arrival CV (paper: 8)"),
    ("keep-alive", "policy.keep_alive.timeout", "keep-alive (assumed 30 s)"),
    ("checkpoints", pr.COUNT, "OPT-6.7B checkpoints (assumed 32)"),
    ("ssd", "cluster.profile.file", "SSD bandwidth (assumed 6 GB/s)"),
    ("start-up", "cluster.runtime_init", "runtime start-up (assumed 0.5 s)"),
    ("popularity", "workload.popularity", "popularity (assumed uniform)"),
]


def short(value):
    v = str(value)
    for tag, text in (("ssd3gbs", "3 GB/s"), ("paper", "6 GB/s"), ("ssd12gbs", "12 GB/s")):
        if "testbed-ii" in v and tag in v:
            return text
    if v.startswith("{kind: zipf"):
        return "Zipf " + v.split("s:")[1].strip(" }")
    return v.replace(" ", "") if isinstance(value, str) else "%g" % value


def plot_sensitivity(rows, out_dir):
    policies = pr.ordered([r[pr.POLICY] for r in rows], ["serverlessllm", "ray-serve", "ray-serve-cache", "kserve"])
    fig, axes = plt.subplots(2, 3, figsize=(13, 8), squeeze=False)
    axes = [[ax for row in axes for ax in row]]
    for ax, (factor, key, xlabel) in zip(axes[0], SENSITIVITY):
        pts = [r for r in rows if r.get("label.factor") == factor]
        values = []
        for r in pts:
            if r[key] not in values:
                values.append(r[key])
        for k, p in enumerate(policies):
            xs, ys, es = [], [], []
            for i, v in enumerate(values):
                for r in pts:
                    if r[key] == v and r[pr.POLICY] == p:
                        xs.append(i + (k - (len(policies) - 1) / 2) * 0.8 / len(policies))
                        ys.append(r[LAT])
                        es.append(err(r, LAT))
            ax.errorbar(xs, ys, yerr=es, fmt=MARKERS.get(p, "o"), color=COLORS.get(p), capsize=3,
                        label=pr.name(pr.POLICY_NAMES, p))
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels([short(v) for v in values])
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(which="both", alpha=0.3)
    for ax in (axes[0][0], axes[0][3]):
        ax.set_ylabel("mean TTFT, timeouts at 300 s (s, log scale)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Sensitivity to the assumed values: OPT-6.7B, GSM8K, 0.8 requests/s, one factor at a time\n"
                 "(mean TTFT over seeds ± 95% interval)")
    fig.tight_layout()
    save(fig, out_dir, "sensitivity")


PLOTS = {"1": plot_fig1, "2": plot_fig2, "3": plot_fig3, "4": plot_fig4, "5": plot_fig5,
         "s": plot_sensitivity}


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2 if len(argv) < 2 else 0
    out_dir = argv[1]
    figures = argv[2:] or sorted(PLOTS)
    status = 0
    for f in figures:
        if f not in PLOTS:
            print("unknown figure %r (expected 1-5 or s)" % f, file=sys.stderr)
            return 2
        rows = pr.load(out_dir, f)
        if not rows:
            print("figure %s: no results in %s (its sweep failed or was not run); not plotted"
                  % (f, pr.results_path(out_dir, f)), file=sys.stderr)
            status = 1
            continue
        PLOTS[f](rows, out_dir)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
