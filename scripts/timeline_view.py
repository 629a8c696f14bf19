#!/usr/bin/env python3
"""Draws a sllmsim timeline.json (Chrome/Perfetto trace events) to a PNG or SVG, offline.

   scripts/timeline_view.py RUN_DIR/timeline.json docs/timeline.png [--requests 40]

Top: one row per GPU (server s, GPU g) with its slices coloured by phase (loading, prefill, decode, idle,
migration). Middle: the links' total rate per link class (bytes/s, from the counter events). Bottom: a
few sampled requests as bars (queued, prefill, decode). ui.perfetto.dev shows the same file interactively.
"""
import argparse
import json
import re
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

COLOURS = {
    "loading": "#e8a33d",
    "idle": "#d0d0d0",
    "prefill": "#3b7dd8",
    "decode": "#2ca05a",
    "decode (migrating)": "#9b59b6",
    "migration recompute": "#c39bd3",
    "migration hand-off": "#e74c3c",
    "queued": "#bbbbbb",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("timeline")
    ap.add_argument("out")
    ap.add_argument("--requests", type=int, default=40, help="sampled requests drawn (the first to arrive)")
    args = ap.parse_args()
    with open(args.timeline) as f:
        trace = json.load(f)
    events = trace["traceEvents"]
    names = {}
    for e in events:
        if e["ph"] == "M" and e["name"] == "thread_name":
            names[(e["pid"], e["tid"])] = e["args"]["name"]
    slices = defaultdict(list)
    counters = defaultdict(dict)  # link class -> link -> [(t, rate)]
    requests = defaultdict(dict)
    for e in events:
        ph = e["ph"]
        if ph == "X":
            slices[(e["pid"], e["tid"])].append((e["ts"] / 1e6, e["dur"] / 1e6, e["name"]))
        elif ph == "C":
            cls = re.sub(r"\d+$", "", re.sub(r"^server\d+\.", "", e["name"]))
            counters[cls].setdefault(e["name"], []).append((e["ts"] / 1e6, e["args"]["bytes_per_s"]))
        elif ph in "be":
            requests[e["id"]].setdefault(e["name"], {})[ph] = e["ts"] / 1e6
    t0 = trace["otherData"]["window_start_s"]
    t1 = trace["otherData"]["window_end_s"]

    tracks = sorted(slices)
    fig, (ax_gpu, ax_link, ax_req) = plt.subplots(
        3, 1, figsize=(14, 9), sharex=True, gridspec_kw={"height_ratios": [max(3, len(tracks) / 4), 2, 2.5]}
    )
    for row, key in enumerate(tracks):
        for name in COLOURS:
            bars = [(t, d) for t, d, n in slices[key] if n == name]
            if bars:
                ax_gpu.broken_barh(bars, (row - 0.4, 0.8), facecolors=COLOURS[name], linewidth=0)
    ax_gpu.set_yticks(range(len(tracks)))
    ax_gpu.set_yticklabels([f"server {p} {names.get((p, t), f'GPU {t}')}" for p, t in tracks], fontsize=7)
    ax_gpu.invert_yaxis()
    ax_gpu.set_title("GPU tracks")
    ax_gpu.legend(
        handles=[Patch(color=c, label=n) for n, c in COLOURS.items() if n != "queued"],
        loc="upper right", fontsize=7, ncol=4,
    )

    # Sum each class's links as a step function over the union of change times.
    for cls, links in sorted(counters.items()):
        times = sorted({t for series in links.values() for t, _ in series} | {t0, t1})
        total = []
        for t in times:
            s = 0.0
            for series in links.values():
                v = 0.0
                for ts, rate in series:
                    if ts <= t:
                        v = rate
                    else:
                        break
                s += v
            total.append(s / 1e9)
        ax_link.step(times, total, where="post", label=cls, linewidth=1)
    ax_link.set_ylabel("GB/s")
    ax_link.set_title("link rates (sum per link class)")
    ax_link.legend(loc="upper right", fontsize=7, ncol=3)

    drawn = sorted((r["request"]["b"], rid) for rid, r in requests.items() if "request" in r)[: args.requests]
    for row, (_, rid) in enumerate(drawn):
        r = requests[rid]
        for phase in ("queued", "prefill", "decode"):
            if phase in r and "b" in r[phase] and "e" in r[phase]:
                b, e = r[phase]["b"], r[phase]["e"]
                ax_req.broken_barh([(b, max(e - b, (t1 - t0) * 1e-3))], (row - 0.4, 0.8),
                                   facecolors=COLOURS[phase], linewidth=0)
    ax_req.set_yticks([])
    ax_req.invert_yaxis()
    ax_req.set_ylabel(f"{len(drawn)} sampled requests")
    ax_req.set_title("requests (grey queued, blue prefill, green decode)")
    ax_req.set_xlabel("simulated time (s)")
    ax_req.set_xlim(t0, t1)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)


if __name__ == "__main__":
    main()
