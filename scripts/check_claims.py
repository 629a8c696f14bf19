#!/usr/bin/python3
"""Checks the paper's claims against reproduced sweep results and writes the Markdown report.

usage: check_claims.py OUT_DIR [FIGURE...] [--report FILE] [--quick]
Reads OUT_DIR/fig*/results.csv (scripts/reproduce-paper.sh). For each requested figure (default 1-5; s:
the sensitivity sweep, reported only) it writes the reproduced numbers beside the paper's (its value,
sllmsim's mean and 95% interval, their ratio) and judges each checked claim: holds, fails, or
inconclusive. Claims 3-5 use the multi-seed estimates (the mean rows and, for paired comparisons
between policies on the same request streams, the per-seed rows). Exit status 1 when a claim's outcome
is neither "holds" nor the outcome documented with its modelled reason (DOCUMENTED below), when a
documented claim's outcome changed, or when a figure's results are missing; else 0. Checked claims
(docs/paper.md):
  1: every ServerlessLLM speedup over Safetensors and PyTorch is within 3.6x-8.2x;
  2: no ablation step is slower than the previous one;
  3: ServerlessLLM has the lowest mean and P99 TTFT at every (model, dataset, rate) point;
  4: Ray Serve's mean TTFT is >= 10x ServerlessLLM's for OPT-6.7B and OPT-13B on both datasets;
  5a: ServerlessLLM at 1 GPU per server beats Ray Serve with cache at 4;
  5b: ServerlessLLM stays nearly flat (<= 2x) from 16 to 64 models and is the lowest at each count.
TTFT here: over all arrived requests, a timeout counted at 300 s (the paper's "latency" is start-up).
"""
import datetime
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paper_results as pr  # noqa: E402

SPEEDUP_BAND = (3.6, 8.2)
RAY_SERVE_FACTOR = 10.0
RAY_SERVE_MODELS = ["opt-6.7b", "opt-13b"]


# Claims that do not hold in sllmsim with a modelled reason (docs/paper.md, "Where sllmsim and the paper
# differ"): reported as such, with the reason, and not a CI failure while the outcome stays the one
# documented here. Any other outcome but "holds" fails CI, and so does a documented claim whose outcome
# changes (it may hold now: update this table and docs/paper.md).
DOCUMENTED = {
    "1": ("fails",
          "testbed (i) is assembled from its published hardware and host components measured on the H200 VM "
          "(docs/loader-model.md): the Safetensors and PyTorch modes copy every tensor into freshly allocated "
          "pageable memory, and the VM's first touch of fresh pages (1.55 GB/s, one thread) dominates their "
          "time, so both are 12.7x / 13.7x slower than ServerlessLLM against the paper's 3.6-8.2x. The "
          "component does not carry from a VM to the bare-metal testbed: the predicted Safetensors OPT-6.7B "
          "load is 2.6x the testbed's measured one, while ServerlessLLM's is within 13%"),
    "3": ("inconclusive",
          "OPT-30B at 0.8-1.4 requests/s saturates the cluster (eight 2-GPU instances on 16 GPUs): every "
          "policy's P99 TTFT sits at or near the 300 s timeout, where the censored P99s cannot be told apart "
          "over 10 seeds (ServerlessLLM 285-299 s vs 300 s); the means hold everywhere but against Shepherd* "
          "at 1.1 requests/s, whose interval reaches 0"),
    "5b": ("fails",
           "64 one-GPU models on 16 GPUs under CV-8 bursts: almost every request is a cold start (92%; mean "
           "cold-start load 5.3 s), and the wait before service is nearly all of the 41 s TTFT while the GPUs "
           "compute 7% of the time: placement is bound by instance churn (loads one at a time per server, GPUs "
           "held by loading and idle instances), not by compute. With 16 models every model keeps a warm "
           "instance (0.85 s). The paper's flat curve is not reproduced"),
}


# The mismatches of shape and value the tables above show, with their modelled reasons (docs/paper.md).
DIFFERENCES = [
    "**Metric.** The paper's \"latency\" of figures 3-5 is plotted here as TTFT over all arrived requests, "
    "timeouts at 300 s: its ServerlessLLM values (0.8-1.6 s) are start-up latencies, which an end-to-end "
    "latency with ~100-340 output tokens cannot reach.",
    "**Absolute values (figures 3-5).** ServerlessLLM's OPT-6.7B TTFT is 3-12x the paper's 0.8-1.6 s (OPT-13B "
    "1-1.8x): under Gamma CV-8 arrivals requests come in clumps that ask for more instances than the 16 GPUs "
    "hold, and queueing dominates. With Poisson arrivals (CV 1, sensitivity sweep) the same point gives "
    "0.68 s. The paper's arrivals (Azure Functions trace shape) may be less clumped than a Gamma CV 8 renewal "
    "process; the CV is the paper's, the renewal process is ours.",
    "**Ray Serve with cache serves too much (figure 4).** 95-96% of OPT-30B requests within 300 s against the "
    "paper's 26%, and 2.4-19x ServerlessLLM's TTFT against 2.9-156x: a cached checkpoint loads with the "
    "Safetensors law derived from the published A5000 numbers (0.23 of the sllm store), e.g. ~44 s for OPT-30B, "
    "far from the timeout. Whatever made the paper's baseline slower (PyTorch loading, a slower disk, a "
    "smaller cache) is not in the published data; `policy.loader: torch` and the SSD factor move it.",
    "**Figure 5, 16 -> 64 models.** ServerlessLLM grows from 0.85 s to 41 s (paper: nearly flat): see claim "
    "5b's modelled reason (instance churn of CV-8 bursts: 92% cold starts, loads one at a time per server).",
    "**Claim 3 at OPT-30B.** The saturated points' P99s are censored at the 300 s timeout for every policy, so "
    "over 10 seeds they cannot be told apart (inconclusive, not a pass).",
]


class Report:
    def __init__(self):
        self.lines = []
        self.failures = []
        self.checked = []

    def add(self, text=""):
        self.lines.append(text)

    def table(self, header, rows):
        self.add("| " + " | ".join(header) + " |")
        self.add("|" + "---|" * len(header))
        for r in rows:
            self.add("| " + " | ".join(str(c) for c in r) + " |")
        self.add()

    def claim(self, figure, text, outcome, details):
        """Records a checked claim: `outcome` is True / False (single-run claims 1-2) or
        paper_results.HOLDS / FAILS / INCONCLUSIVE (multi-seed claims); `details` lists what decides it."""
        if outcome is True:
            outcome = pr.HOLDS
        elif outcome is False:
            outcome = pr.FAILS
        self.checked.append((figure, text, outcome))
        self.add("**Claim (checked): %s — %s.**" % (text, {pr.HOLDS: "holds", pr.FAILS: "DOES NOT HOLD",
                                                          pr.INCONCLUSIVE: "INCONCLUSIVE"}[outcome]))
        self.add()
        if outcome != pr.HOLDS:
            documented = DOCUMENTED.get(figure)
            if documented and documented[0] == outcome:
                self.add("Documented outcome, modelled reason: %s." % documented[1])
                self.add()
            else:
                self.failures.append((figure, text, outcome, details))
            for d in details:
                self.add("- " + d)
            self.add()
        elif figure in DOCUMENTED:
            self.failures.append((figure, text, outcome, ["documented as %s, now holds: update DOCUMENTED in "
                                                          "scripts/check_claims.py and docs/paper.md"
                                                          % DOCUMENTED[figure][0]]))


def s(x):
    return "%.3g" % x


def fig1(rows, rep):
    rep.add("## Figure 1: loading latency per model (testbed (i), RAID 0 NVMe)")
    rep.add()
    rep.add("Paper: ServerlessLLM loads 3.6-8.2x faster than PyTorch and Safetensors (6x / 3.6x vs "
            "PyTorch / Safetensors on OPT-2.7B; 8.2x / 4.7x on LLaMA-2-70B).")
    rep.add()
    models = pr.ordered([r[pr.MODEL] for r in rows], list(pr.MODEL_NAMES))
    by = {(r[pr.MODEL], r[pr.LOADER]): r["load_time_mean_s"] for r in rows if r.get("load_time_count", 0) > 0}
    table, bad = [], []
    for m in models:
        t = {l: by.get((m, l)) for l in pr.LOADERS}
        cells = [pr.name(pr.MODEL_NAMES, m)] + [s(t[l]) if t[l] else "missing" for l in pr.LOADERS]
        for base in ("safetensors", "torch"):
            if t["sllm"] and t[base]:
                sp = t[base] / t["sllm"]
                cells.append("%.2fx" % sp)
                if not SPEEDUP_BAND[0] <= sp <= SPEEDUP_BAND[1]:
                    bad.append("%s: %s %.3f s / ServerlessLLM %.3f s = %.2fx, outside %.1f-%.1fx"
                               % (m, base, t[base], t["sllm"], sp, *SPEEDUP_BAND))
            else:
                cells.append("n/a")
                bad.append("%s: no load time for %s or sllm (did the request cold-start?)" % (m, base))
        paper = pr.FIG1_PAPER.get(m)
        cells.append("%.1fx / %.1fx" % paper if paper else "not stated")
        table.append(cells)
    rep.table(["model", "ServerlessLLM (s)", "Safetensors (s)", "PyTorch (s)", "speedup vs Safetensors",
               "speedup vs PyTorch", "paper (vs Safetensors / PyTorch)"], table)
    rep.add("Testbed (i) here is the loader model's (docs/loader-model.md): the testbed's published hardware and "
            "host components measured on our H200 host, nothing fitted to the paper's figures.")
    rep.add()
    rep.claim("1", "every ServerlessLLM loading speedup is within %.1f-%.1fx" % SPEEDUP_BAND, not bad, bad)
    rep.add("![figure 1](fig1-loading.png)")
    rep.add()


def fig2(rows, rep):
    rep.add("## Figure 2: loading ablation")
    rep.add()
    rep.add("Paper: each step speeds loading up over the previous one: +bulk 1.2x, +direct I/O 2.1x, "
            "+multi-threaded reads 2.3x, +pinned memory 1.4x, +pipelining 1.5x.")
    rep.add()
    by = {r[pr.LOADER]: r["load_time_mean_s"] for r in rows}
    steps = pr.ordered(list(by), pr.ABLATION)
    table, bad = [], []
    for i, st in enumerate(steps):
        sp = by[steps[i - 1]] / by[st] if i else None
        table.append([pr.name(pr.ABLATION_NAMES, st), s(by[st]), "%.2fx" % sp if sp else "",
                      "%.1fx" % pr.ABLATION_PAPER[st] if st in pr.ABLATION_PAPER else ""])
        if i and by[st] > by[steps[i - 1]] * (1 + 1e-9):
            bad.append("%s takes %.4f s, slower than %s (%.4f s)" % (st, by[st], steps[i - 1], by[steps[i - 1]]))
    missing = [st for st in pr.ABLATION if st not in by]
    bad += ["step %s has no result" % st for st in missing]
    rep.table(["step", "load time (s)", "speedup over previous", "paper"], table)
    rep.add("Each step's time is the loader model's composition of what that mode does (docs/loader-model.md), "
            "on testbed (i) assembled from its published hardware and our H200 host's components.")
    rep.add()
    rep.claim("2", "no ablation step is slower than the previous one", not bad, bad)
    rep.add("![figure 2](fig2-ablation.png)")
    rep.add()


# The serving figures (3-5) plot the paper's "latency": its values for ServerlessLLM (0.8-1.6 s on OPT-6.7B
# and 13B) are start-up latencies, which is sllmsim's time to first token; a timed-out request counts the
# 300 s timeout (ttft_all_censored_*: a policy that drops requests cannot look faster). End-to-end latency
# (latency_all_censored_*) is listed beside it.
LAT = "ttft_all_censored_mean_s"
P99 = "ttft_all_censored_p99_s"
E2E = "latency_all_censored_mean_s"

# Numbers the paper gives for figures 3-5 (as quoted in issue 16 and ../shared/reference/serverlessllm-notes.md;
# the paper's per-point values are read off its plots, not tabulated).
PAPER_SLLM_BAND = (0.8, 1.6)           # ServerlessLLM mean latency, OPT-6.7B and OPT-13B (figures 3-4), s
PAPER_RAY_FACTOR = (10.0, 200.0)       # baselines' latency over ServerlessLLM's (figure 4 headline)
PAPER_RAY_CACHE_FACTOR = (2.9, 156.0)  # Ray Serve with cache over ServerlessLLM (figure 4)
PAPER_RAY_CACHE_30B_SERVED = 0.26      # share of OPT-30B requests Ray Serve with cache serves within 300 s
PAPER_FIG5 = {"sllm_1gpu": 4.0, "ray_cache_4gpu": 12.0}  # figure 5 left, s (approximate, read off the plot)
FLAT_FACTOR = 2.0  # assumed reading of "nearly flat": 64 models at most 2x the latency of 16


def ci(r, metric):
    """'mean ± half-width' of a mean row's metric."""
    m, hw = r[metric], r.get(metric + "_ci95", "")
    if isinstance(hw, float) and hw == hw:
        return "%s ± %s" % (s(m), s(hw))
    return s(m)


def verdict_text(v, m, hw, unit=""):
    return "%s (%s%s ± %s)" % (v, s(m), unit, s(hw) if hw == hw else "n/a")


def paired_above(runs_at, a, b, metric, threshold, ratio=False):
    """Verdict of b - a > threshold (or b / a > threshold with ratio) over the seeds both have."""
    xs = []
    for rows in runs_at:
        if a in rows and b in rows:
            x, y = rows[a][metric], rows[b][metric]
            xs.append(y / x if ratio else y - x)
    if xs and not ratio and all(x == 0 for x in xs):
        return pr.HOLDS, 0.0, 0.0  # a tie at every seed: not higher (the claim allows ties)
    return pr.verdict_at_least(xs, threshold)


def ratio_cell(value, band):
    lo, hi = band
    if lo <= value <= hi:
        return "within"
    return "%.2fx of %s" % (value / (lo if value < lo else hi), "low end" if value < lo else "high end")


def seeds_of(runs):
    return len({r["repeat"] for r in runs})


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.path.join(ROOT, "configs", "profiles", "testbed-ii-paper.yaml")
SYSTEMS = [  # (policy, loader mode, start-up beyond runtime_init, loading queue, source)
    ("serverlessllm", "sllm", "none", "per-server FIFO", "the paper, section 4 (pipelined multi-tier loader)"),
    ("serverless / shepherd", "sllm", "none", "per-server FIFO", "scheduler ablations inside ServerlessLLM"),
    ("ray-serve", "safetensors", "none; download, then load (not pipelined)", "none (each replica loads)",
     "replica code = HF transformers / vLLM, .safetensors by default (HF docs, 'Load safetensors')"),
    ("ray-serve-cache", "safetensors", "none; SSD hit skips the download", "none (each replica loads)", "as Ray Serve"),
    ("kserve", "safetensors", "10 s pod start (assumed); download by the storage initializer, then load",
     "none (each pod loads)", "KServe storage initializer (kserve.github.io, 'Storage Containers')"),
]


def profile_laws(path):
    """{mode: (bandwidth text, overhead text)} of a profile's SSD laws (its YAML, read by pattern)."""
    laws, mode = {}, None
    if not os.path.exists(path):
        return laws
    for line in open(path):
        m = re.match(r"^    ([a-z-]+):\s*$", line)
        if m:
            mode = m.group(1)
        m = re.match(r'^\s+ssd: \{bandwidth: "([^"]+)", overhead: "([^"]+)"', line)
        if m and mode:
            laws[mode] = (m.group(1), m.group(2))
    return laws


def loaders_table(rep):
    laws = profile_laws(PROFILE)
    rep.add("Loading per system (figures 3-5; docs/policies.md; laws from configs/profiles/testbed-ii-paper.yaml, "
            "whose comments give their derivation; `runtime_init` 0.5 s (assumed) is paid by every system):")
    rep.add()
    table = []
    for policy, mode, startup, queue, source in SYSTEMS:
        bw, overhead = laws.get(mode, ("missing", "missing"))
        try:
            bw = "%.2f GB/s" % (float(bw.split()[0]) / 1e9)
        except ValueError:
            pass
        table.append([policy, mode, "%s + %s" % (bw, overhead), startup, queue, source])
    rep.table(["system", "loader mode", "SSD law (bandwidth + overhead)", "extra start-up", "loading queue", "source"],
              table)


def fig3(rows, runs, rep):
    rep.add("## Figure 3: scheduler comparison over request rate (testbed (ii))")
    rep.add()
    rep.add("Paper: ServerlessLLM has the lowest mean and P99 latency on every model and dataset; Shepherd* "
            "degrades at high RPS (preemptions), Serverless pays remote loads. Plotted metric: time to first "
            "token over all arrived requests, a timeout counted at 300 s (`%s`, `%s`); the paper's "
            "ServerlessLLM values (%.1f-%.1f s on OPT-6.7B/13B) are start-up latencies. %d seeds per point; "
            "cells are mean ± 95%% interval half-width." % (LAT, P99, PAPER_SLLM_BAND[0], PAPER_SLLM_BAND[1],
                                                           seeds_of(runs)))
    rep.add()
    models = pr.ordered([r[pr.MODEL] for r in rows], list(pr.MODEL_NAMES))
    datasets = pr.ordered([r[pr.LENGTHS] for r in rows], ["gsm8k", "sharegpt"])
    policies = pr.ordered([r[pr.POLICY] for r in rows], ["serverlessllm", "serverless", "shepherd"])
    by_seed = pr.runs_by(runs)
    verdicts, notes = [], []
    if "shepherd" not in policies or "serverless" not in policies:
        verdicts.append(pr.FAILS)
        notes.append("baselines missing: have %s" % ", ".join(policies))
    for m in models:
        for d in datasets:
            pts = [r for r in rows if r[pr.MODEL] == m and r[pr.LENGTHS] == d]
            table = []
            for rate in sorted({r[pr.RPS] for r in pts}):
                at = {r[pr.POLICY]: r for r in pts if r[pr.RPS] == rate}
                cells = ["%g" % rate]
                for p in policies:
                    r = at.get(p)
                    cells.append("%s / %s" % (ci(r, LAT), ci(r, P99)) if r else "missing")
                ours = at.get("serverlessllm")
                if ours and m in ("opt-6.7b", "opt-13b"):
                    cells.append("%s (paper %.1f-%.1f s: %s)" % (s(ours[LAT]), *PAPER_SLLM_BAND,
                                                               ratio_cell(ours[LAT], PAPER_SLLM_BAND)))
                else:
                    cells.append("")
                table.append(cells)
                if not ours:
                    verdicts.append(pr.FAILS)
                    notes.append("%s %s rps %g: no ServerlessLLM result" % (m, d, rate))
                    continue
                seeds = [v for (pt, _), v in by_seed.items() if pt == pr.point_of(ours, (pr.POLICY,))]
                for p in at:
                    if p == "serverlessllm":
                        continue
                    for metric, label in ((LAT, "mean"), (P99, "P99")):
                        v, mean, hw = paired_above(seeds, "serverlessllm", p, metric, 0.0)
                        verdicts.append(v)
                        if v != pr.HOLDS:
                            notes.append("%s %s rps %g, %s: %s - ServerlessLLM = %s s: %s"
                                         % (m, d, rate, label, pr.name(pr.POLICY_NAMES, p),
                                            "%.3f ± %.3f" % (mean, hw), v))
            rep.add("%s, %s — TTFT mean / P99 (s):" % (pr.name(pr.MODEL_NAMES, m), pr.name(pr.DATASET_NAMES, d)))
            rep.add()
            rep.table(["RPS"] + [pr.name(pr.POLICY_NAMES, p) for p in policies] + ["ServerlessLLM vs paper"], table)
    rep.claim("3", "ServerlessLLM has the lowest mean and P99 latency at every RPS point (paired over seeds: "
              "each baseline minus ServerlessLLM > 0 with 95% confidence)", pr.combine(verdicts), notes)
    rep.add("![figure 3](fig3-scheduler.png)")
    rep.add()


def fig4(rows, runs, rep):
    rep.add("## Figure 4: whole system vs Ray Serve, Ray Serve with cache, KServe (testbed (ii))")
    rep.add()
    rep.add("Paper: 10-200x lower latency than the baselines (Ray Serve with cache %.1f-%.0fx); the baselines "
            "time out many requests (Ray Serve with cache serves %.0f%% of OPT-30B requests within 300 s). "
            "Plotted metric: TTFT over all arrived requests, timeouts at 300 s (`%s`); end-to-end (`%s`) "
            "beside it. Loaders (configs/profiles/testbed-ii-paper.yaml): ServerlessLLM `sllm`; Ray Serve, "
            "Ray Serve with cache and KServe `safetensors` (download, then load: not pipelined), no "
            "per-server loading queue; KServe adds a 10 s pod start (assumed). %d seeds per point."
            % (PAPER_RAY_CACHE_FACTOR[0], PAPER_RAY_CACHE_FACTOR[1], 100 * PAPER_RAY_CACHE_30B_SERVED, LAT, E2E,
               seeds_of(runs)))
    rep.add()
    loaders_table(rep)
    models = pr.ordered([r[pr.MODEL] for r in rows], list(pr.MODEL_NAMES))
    datasets = pr.ordered([r[pr.LENGTHS] for r in rows], ["gsm8k", "sharegpt"])
    policies = pr.ordered([r[pr.POLICY] for r in rows], ["serverlessllm", "ray-serve", "ray-serve-cache", "kserve"])
    by_seed = pr.runs_by(runs)
    table, compare, verdicts, notes = [], [], [], []
    for m in models:
        for d in datasets:
            at = {r[pr.POLICY]: r for r in rows if r[pr.MODEL] == m and r[pr.LENGTHS] == d}
            ours = at.get("serverlessllm")
            cells = [pr.name(pr.MODEL_NAMES, m), pr.name(pr.DATASET_NAMES, d)]
            for p in policies:
                r = at.get(p)
                cells.append("%s s (e2e %s s), %.0f%% served" % (ci(r, LAT), s(r[E2E]), 100 * r["served_share"])
                             if r else "missing")
            table.append(cells)
            if not ours:
                continue
            seeds = [v for (pt, _), v in by_seed.items() if pt == pr.point_of(ours, (pr.POLICY,))]
            for p in policies:
                if p == "serverlessllm" or p not in at:
                    continue
                v, mean, hw = paired_above(seeds, "serverlessllm", p, LAT, 0.0, ratio=True)
                paper = {"ray-serve": PAPER_RAY_FACTOR, "ray-serve-cache": PAPER_RAY_CACHE_FACTOR}.get(p)
                compare.append([pr.name(pr.MODEL_NAMES, m), pr.name(pr.DATASET_NAMES, d), pr.name(pr.POLICY_NAMES, p),
                                "%.1f-%.0fx" % paper if paper else "10-200x (all baselines)",
                                "%.1fx ± %.1f" % (mean, hw), ratio_cell(mean, paper or PAPER_RAY_FACTOR)])
            if m == "opt-30b" and "ray-serve-cache" in at:
                r = at["ray-serve-cache"]
                compare.append([pr.name(pr.MODEL_NAMES, m), pr.name(pr.DATASET_NAMES, d), "Ray Serve w/ cache: share served",
                                "%.0f%%" % (100 * PAPER_RAY_CACHE_30B_SERVED),
                                "%.1f%% ± %.1f" % (100 * r["served_share"], 100 * (r.get("served_share_ci95") or 0.0)),
                                "%.2fx" % (r["served_share"] / PAPER_RAY_CACHE_30B_SERVED)])
            if m in RAY_SERVE_MODELS:
                if "ray-serve" not in at:
                    verdicts.append(pr.FAILS)
                    notes.append("%s %s: no Ray Serve result" % (m, d))
                    continue
                v, mean, hw = paired_above(seeds, "serverlessllm", "ray-serve", LAT, RAY_SERVE_FACTOR, ratio=True)
                verdicts.append(v)
                if v != pr.HOLDS:
                    notes.append("%s %s: Ray Serve / ServerlessLLM TTFT = %.1fx ± %.1f over seeds: %s"
                                 % (m, d, mean, hw, v))
    for m in RAY_SERVE_MODELS:
        if m not in models:
            verdicts.append(pr.FAILS)
            notes.append("%s: no results" % m)
    rep.add("TTFT mean ± 95% interval (end-to-end mean), share served within 300 s:")
    rep.add()
    rep.table(["model", "dataset"] + [pr.name(pr.POLICY_NAMES, p) for p in policies], table)
    rep.add("Each baseline's TTFT over ServerlessLLM's (mean of per-seed ratios ± 95% interval) beside the paper's:")
    rep.add()
    rep.table(["model", "dataset", "baseline", "paper", "sllmsim", "sllmsim vs paper"], compare)
    rep.claim("4", "ServerlessLLM's mean latency (TTFT, timeouts at 300 s) is >= %.0fx lower than Ray Serve's "
              "for OPT-6.7B and OPT-13B on both datasets (per-seed ratio, 95%% interval above %.0fx)"
              % (RAY_SERVE_FACTOR, RAY_SERVE_FACTOR), pr.combine(verdicts), notes)
    rep.add("![figure 4](fig4-system.png)")
    rep.add()


def fig5(rows, runs, rep):
    rep.add("## Figure 5: resource efficiency and scalability (testbed (ii), OPT-6.7B)")
    rep.add()
    rep.add("Paper: ServerlessLLM's latency stays low with fewer GPUs per server (about %.0f s at 1 GPU per "
            "server against about %.0f s for Ray Serve with cache at 4) and nearly flat from 16 to 64 models, "
            "while the baselines' grows. Metric: TTFT over all arrived requests, timeouts at 300 s. %d seeds "
            "per point." % (PAPER_FIG5["sllm_1gpu"], PAPER_FIG5["ray_cache_4gpu"], seeds_of(runs)))
    rep.add()
    policies = pr.ordered([r[pr.POLICY] for r in rows], ["serverlessllm", "ray-serve-cache", "kserve"])
    by_seed = pr.runs_by(runs, without=(pr.POLICY, pr.GPUS, pr.EXPERIMENT))
    for experiment, key, label in (("gpus", pr.GPUS, "GPUs per server"), ("models", pr.COUNT, "models")):
        pts = [r for r in rows if r.get(pr.EXPERIMENT) == experiment]
        table = []
        for x in sorted({r[key] for r in pts}):
            at = {r[pr.POLICY]: r for r in pts if r[key] == x}
            table.append(["%g" % x] + ["%s s, %.0f%%" % (ci(at[p], LAT), 100 * at[p]["served_share"])
                                       if p in at else "missing" for p in policies])
        rep.add("TTFT mean ± 95%% interval and share served, by %s:" % label)
        rep.add()
        rep.table([label] + [pr.name(pr.POLICY_NAMES, p) for p in policies], table)

    def one(experiment, key, x, policy):
        return next((r for r in rows if r.get(pr.EXPERIMENT) == experiment and r[key] == x
                     and r[pr.POLICY] == policy), None)

    # 5a: ServerlessLLM at 1 GPU per server beats Ray Serve with cache at 4 (same request streams: paired).
    notes_a, verdict_a = [], pr.FAILS
    sllm1, ray4 = one("gpus", pr.GPUS, 1, "serverlessllm"), one("gpus", pr.GPUS, 4, "ray-serve-cache")
    if sllm1 and ray4:
        pairs = []
        gpu_runs = [r for r in runs if r.get(pr.EXPERIMENT) == "gpus"]
        for rep_i in sorted({r["repeat"] for r in gpu_runs}):
            a = [r for r in gpu_runs if r["repeat"] == rep_i and r[pr.GPUS] == 1 and r[pr.POLICY] == "serverlessllm"]
            b = [r for r in gpu_runs if r["repeat"] == rep_i and r[pr.GPUS] == 4 and r[pr.POLICY] == "ray-serve-cache"]
            if a and b:
                pairs.append(b[0][LAT] - a[0][LAT])
        verdict_a, mean, hw = pr.verdict_at_least(pairs, 0.0)
        rep.table(["number", "paper", "sllmsim", "ratio"],
                  [["ServerlessLLM, 1 GPU/server", "~%.0f s" % PAPER_FIG5["sllm_1gpu"], ci(sllm1, LAT) + " s",
                    "%.2fx" % (sllm1[LAT] / PAPER_FIG5["sllm_1gpu"])],
                   ["Ray Serve w/ cache, 4 GPUs/server", "~%.0f s" % PAPER_FIG5["ray_cache_4gpu"], ci(ray4, LAT) + " s",
                    "%.2fx" % (ray4[LAT] / PAPER_FIG5["ray_cache_4gpu"])]])
        if verdict_a != pr.HOLDS:
            notes_a.append("Ray Serve w/ cache (4 GPUs) - ServerlessLLM (1 GPU) = %.2f ± %.2f s: %s" % (mean, hw, verdict_a))
    else:
        notes_a.append("missing ServerlessLLM at 1 GPU or Ray Serve with cache at 4 GPUs")
    rep.claim("5a", "ServerlessLLM at 1 GPU per server has lower latency than Ray Serve with cache at 4 "
              "(paired over seeds, 95% interval)", verdict_a, notes_a)

    # 5b: nearly flat from 16 to 64 models, and the lowest at every model count.
    notes_b, verdicts_b = [], []
    counts = sorted({r[pr.COUNT] for r in rows if r.get(pr.EXPERIMENT) == "models"})
    s16 = one("models", pr.COUNT, counts[0], "serverlessllm") if counts else None
    s64 = one("models", pr.COUNT, counts[-1], "serverlessllm") if counts else None
    if s16 and s64:
        m16, h16 = s16[LAT], s16.get(LAT + "_ci95", float("nan"))
        m64, h64 = s64[LAT], s64.get(LAT + "_ci95", float("nan"))
        if not (h16 == h16 and h64 == h64):
            v = pr.INCONCLUSIVE
        elif m64 + h64 <= FLAT_FACTOR * (m16 - h16):
            v = pr.HOLDS
        elif m64 - h64 > FLAT_FACTOR * (m16 + h16):
            v = pr.FAILS
        else:
            v = pr.INCONCLUSIVE
        verdicts_b.append(v)
        if v != pr.HOLDS:
            notes_b.append("ServerlessLLM %g models %s s vs %g models %s s (%.1fx; flat means <= %.0fx): %s"
                           % (counts[-1], ci(s64, LAT), counts[0], ci(s16, LAT), m64 / m16, FLAT_FACTOR, v))
        model_runs = [r for r in runs if r.get(pr.EXPERIMENT) == "models"]
        for c in counts:
            seeds = [v2 for (pt, _), v2 in pr.runs_by(model_runs).items() if dict(pt).get(pr.COUNT) == c]
            for p in policies:
                if p == "serverlessllm":
                    continue
                v, mean, hw = paired_above(seeds, "serverlessllm", p, LAT, 0.0)
                verdicts_b.append(v)
                if v != pr.HOLDS:
                    notes_b.append("%g models: %s - ServerlessLLM = %.2f ± %.2f s: %s"
                                   % (c, pr.name(pr.POLICY_NAMES, p), mean, hw, v))
    else:
        verdicts_b.append(pr.FAILS)
        notes_b.append("missing ServerlessLLM results of the models panel")
    rep.claim("5b", "ServerlessLLM's latency stays nearly flat from 16 to 64 models (64 at most %.0fx 16, "
              "intervals included) and is the lowest at every model count" % FLAT_FACTOR,
              pr.combine(verdicts_b), notes_b)
    rep.add("![figure 5](fig5-scale.png)")
    rep.add()


def sensitivity(rows, runs, rep):
    rep.add("## Sensitivity to the assumed values (configs/paper/sensitivity.yaml)")
    rep.add()
    rep.add("OPT-6.7B, GSM8K, 0.8 requests/s; one factor at a time around the figures' values; TTFT mean ± "
            "95%% interval (s) over %d seeds, and each baseline's TTFT over ServerlessLLM's. Reported, not "
            "checked." % seeds_of(runs))
    rep.add()
    policies = pr.ordered([r[pr.POLICY] for r in rows], ["serverlessllm", "ray-serve", "ray-serve-cache", "kserve"])
    table = []
    for r0 in rows:
        if r0[pr.POLICY] != "serverlessllm":
            continue
        factor = r0.get("label.factor")
        key = next(k for k in r0 if "." in k and k not in ("label.factor", pr.POLICY) and not k.endswith("_ci95")
                   and r0[k] != "" and k in ("workload.cv", "policy.keep_alive.timeout", pr.COUNT,
                                             "cluster.profile.file", "cluster.runtime_init",
                                             "workload.popularity"))
        at = {r[pr.POLICY]: r for r in rows if r.get("label.factor") == factor and r[key] == r0[key]}
        cells = [factor, str(r0[key]).replace("../profiles/", "")]
        for p in policies:
            r = at.get(p)
            cells.append((ci(r, LAT) + ("" if p == "serverlessllm" else " (%.1fx)" % (r[LAT] / r0[LAT])))
                         if r else "missing")
        table.append(cells)
    rep.table(["factor", "value"] + [pr.name(pr.POLICY_NAMES, p) for p in policies], table)
    rep.add("![sensitivity](sensitivity.png)")
    rep.add()


CHECKS = {"1": fig1, "2": fig2, "3": fig3, "4": fig4, "5": fig5, "s": sensitivity}


def main(argv):
    args = argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 2 if not args else 0
    report_path = None
    quick = False
    rest = []
    i = 0
    while i < len(args):
        if args[i] == "--report":
            report_path = args[i + 1]
            i += 2
            continue
        if args[i] == "--quick":
            quick = True
        else:
            rest.append(args[i])
        i += 1
    out_dir, figures = rest[0], rest[1:] or ["1", "2", "3", "4", "5"]
    rep = Report()
    rep.add("# ServerlessLLM (OSDI 2024) evaluation, reproduced with sllmsim")
    rep.add()
    rep.add("Generated %s by scripts/check_claims.py from %s%s. How to reproduce: docs/paper.md."
            % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), out_dir,
               " (--quick: fewer points, see docs/paper.md)" if quick else ""))
    rep.add()
    missing = []
    for f in figures:
        if f not in CHECKS:
            print("unknown figure %r (expected 1-5 or s)" % f, file=sys.stderr)
            return 2
        rows = pr.load(out_dir, f)
        if not rows:
            status_file = os.path.join(out_dir, pr.FIGURES[f], "FAILED")
            why = open(status_file).read().strip() if os.path.exists(status_file) else "no results.csv"
            rep.add("## Figure %s: not reproduced" % f)
            rep.add()
            rep.add("```\n%s\n```" % why)
            rep.add()
            missing.append((f, why))
            continue
        if f in ("1", "2"):
            CHECKS[f](rows, rep)
        else:
            CHECKS[f](rows, pr.load_runs(out_dir, f), rep)
    summary = ["## Summary", ""]
    for figure, text, outcome in rep.checked:
        summary.append("- figure %s: %s — %s" % (figure, text, outcome if outcome == pr.HOLDS else "**%s**%s" % (
            outcome, " (documented: %s)" % DOCUMENTED[figure][1] if DOCUMENTED.get(figure, ("",))[0] == outcome else "")))
    for f, why in missing:
        summary.append("- figure %s: **not reproduced** (%s)" % (f, why.splitlines()[-1] if why else "no results"))
    if any(f in ("3", "4", "5") for f in figures):
        rep.add("## Where sllmsim and the paper differ, and why")
        rep.add()
        for text in DIFFERENCES:
            rep.add("- " + text)
        rep.add()
    rep.lines[4:4] = summary + [""]
    text = "\n".join(rep.lines) + "\n"
    if report_path:
        with open(report_path + ".tmp", "w") as f:
            f.write(text)
        os.replace(report_path + ".tmp", report_path)
        print("wrote", report_path)
    for figure, text_, outcome in rep.checked:
        documented = DOCUMENTED.get(figure)
        print("figure %s: %s: %s%s" % (figure, text_, outcome,
                                       " (documented, modelled reason in report.md)"
                                       if outcome != pr.HOLDS and documented and documented[0] == outcome else ""))
    for figure, text_, outcome, details in rep.failures:
        print("CLAIM %s: figure %s: %s" % ("FAILED" if outcome == pr.FAILS else "INCONCLUSIVE", figure, text_))
        for d in details:
            print("    " + d)
    for f, why in missing:
        print("MISSING: figure %s: %s" % (f, why.splitlines()[-1] if why else "no results"))
    return 1 if rep.failures or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
