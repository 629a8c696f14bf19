#!/usr/bin/python3
"""PNG plots of an sllmsim run or sweep directory (`sllmsim plot DIR` runs this script).

usage: sllmsim_plot.py DIR OUT_DIR [--metric NAME]... [--x KEY]

A run directory (`sllmsim run -o DIR`: requests.csv, summary.json, timeseries.csv when the run wrote a time
series) gives
  OUT_DIR/cdf.png        CDFs of the end-to-end latency and the time to first token (TTFT)
  OUT_DIR/over-time.png  TTFT percentiles by arrival time; GPU utilisation and requests waiting over time
                         (from timeseries.csv)
A sweep directory (`sllmsim sweep -o DIR`: results.csv) gives
  OUT_DIR/sweep.png      metrics (--metric, default four headline ones) against a swept key (--x, default
                         the first numeric one that varies), one line per value of the other swept keys;
                         with 95% intervals when the sweep repeats points (mean rows and <metric>_ci95).
Exit status 2 when DIR holds no such outputs or a file is not what sllmsim writes (file and line named),
3 when matplotlib cannot be imported (sllmsim plot then exits with 1). Uses Debian's python3-matplotlib (and NumPy) only.
"""
import argparse
import csv
import json
import math
import os
import re
import sys

MISSING_MATPLOTLIB = 3  # exit status: sllmsim plot explains how to install it

plt = None  # matplotlib.pyplot, imported once the input has been read (bad input is reported faster)


def import_matplotlib():
    global plt, np
    try:
        import matplotlib
        import numpy

        matplotlib.use("Agg")
        import matplotlib.pyplot
    except ImportError as e:
        print("sllmsim plot: cannot import matplotlib (%s) in %s: install python3-matplotlib (scripts/setup.sh "
              "does)" % (e, sys.executable), file=sys.stderr)
        sys.exit(MISSING_MATPLOTLIB)
    plt, np = matplotlib.pyplot, numpy


try:
    import numpy as np  # a dependency of python3-matplotlib
except ImportError:
    import_matplotlib()

# Metrics drawn for a sweep by default, when results.csv has them.
DEFAULT_METRICS = ["latency_all_censored_mean_s", "ttft_all_censored_p99_s", "slo_attainment", "gpu_busy"]
# Axis labels of the common metrics; others are labelled from their name (unit from the suffix).
METRIC_LABELS = {
    "slo_attainment": "SLO attainment\n(share of arrived requests)",
    "served_share": "served share\n(completed / arrived)",
    "goodput_rps": "goodput\n(requests/s meeting the SLO)",
    "gpu_busy": "GPU busy\n(share of GPU time)",
    "gpu_allocated": "GPU allocated\n(share of GPU time)",
    "cold_start_ratio": "cold starts\n(share of completed requests)",
    "latency_all_censored_mean_s": "mean latency (s)\ntimeouts count the timeout",
    "ttft_all_censored_p99_s": "P99 TTFT (s)\ntimeouts count the timeout",
}
AXIS_UNITS = {"workload.rps": "requests/s", "workload.requests": "requests"}
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf",
          "#bcbd22"]
MARKERS = ["o", "s", "^", "v", "D", "x", "P", "*", "<", ">"]


class InputError(Exception):
    pass


def save(fig, out_dir, name):
    # Created only now, with the input read: bad input leaves nothing behind.
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise InputError("%s: cannot create the output directory: %s" % (out_dir, e))
    path = os.path.join(out_dir, name + ".png")
    fig.savefig(path + ".tmp.png", dpi=110, bbox_inches="tight")
    os.replace(path + ".tmp.png", path)
    plt.close(fig)
    print("wrote", path)


def read_csv(path, required):
    """Header and rows (lists of strings) of one of sllmsim's CSV files; `required` columns must be there."""
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise InputError("%s:1: empty file, expected a CSV header" % path)
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError("%s:1: no column %s: not a file sllmsim wrote" % (path, ", ".join(missing)))
            rows = []
            for row in reader:
                if len(row) != len(header):
                    raise InputError("%s:%d: %d fields, the header has %d" % (path, reader.line_num, len(row),
                                                                               len(header)))
                rows.append(row)
            return header, rows
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError("%s: %s" % (path, e))


def number(text, path, line, column):
    """A CSV cell as a float: empty is NaN; anything else not a number is an InputError."""
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputError("%s:%d: column %s: expected a number, found '%s'" % (path, line, column, text))


def column(header, rows, name, path):
    i = header.index(name)
    return np.array([number(r[i], path, n + 2, name) for n, r in enumerate(rows)], dtype=float)


def time_unit(seconds):
    """Divisor and name of the unit for a time axis spanning `seconds`."""
    if seconds >= 5 * 3600:
        return 3600.0, "h"
    if seconds >= 600:
        return 60.0, "min"
    return 1.0, "s"


# ---- a run ----------------------------------------------------------------------------------------------

def cdf_points(values):
    """x, y of the empirical CDF, thinned to at most ~2000 steps (a 10 M-request run stays light)."""
    v = np.sort(values)
    n = len(v)
    y = np.arange(1, n + 1) / n
    if n > 2000:
        keep = np.unique(np.concatenate([np.linspace(0, n - 1, 2000).astype(int), [n - 1]]))
        v, y = v[keep], y[keep]
    return v, y


def plot_cdfs(run, out_dir):
    import_matplotlib()
    timeout = run["timeout"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, name, values in ((axes[0], "end-to-end latency", run["latency"]), (axes[1], "time to first token",
                                                                               run["ttft"])):
        done = values[run["completed"]]
        done = done[~np.isnan(done)]
        if len(done):
            x, y = cdf_points(done)
            ax.step(x, y, where="post", color=COLORS[0], label="completed requests (%d)" % len(done))
        unfinished = run["unfinished"]
        if unfinished and timeout and timeout > 0:
            # As the *_all_censored metrics: a timed-out or rejected request counts at the request timeout.
            x, y = cdf_points(np.concatenate([done, np.full(unfinished, timeout)]))
            ax.step(x, y, where="post", color=COLORS[1], linestyle="--",
                    label="all, %d timed out or rejected at %g s" % (unfinished, timeout))
        positive = done[done > 0]
        if len(positive) and positive.max() / positive.min() > 100:
            ax.set_xscale("log")
            ax.set_xlabel(name + " (s, log scale)")
        else:
            ax.set_xlabel(name + " (s)")
        ax.set_ylabel("share of requests")
        ax.set_ylim(0, 1.02)
        ax.set_title("CDF of the " + name)
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(run["title"], fontsize=10)
    save(fig, out_dir, "cdf")


def plot_over_time(run, out_dir):
    import_matplotlib()
    series = run["series"]
    panels = 3 if series else 1
    fig, axes = plt.subplots(panels, 1, figsize=(11, 3.2 * panels), sharex=True, squeeze=False,
                             layout="constrained")
    axes = axes[:, 0]
    end = max(run["makespan"], float(np.nanmax(run["arrival"])) if len(run["arrival"]) else 0.0, 1e-9)
    scale, unit = time_unit(end)

    # Each completed request's TTFT at its arrival (at most 20,000 drawn, evenly thinned), and the
    # percentiles of ~60 windows: bursty workloads leave windows empty, hence markers.
    ax = axes[0]
    ok = run["completed"] & ~np.isnan(run["ttft"])
    arrival, ttft = run["arrival"][ok], run["ttft"][ok]
    step = max(1, len(arrival) // 20000)
    ax.scatter(arrival[::step] / scale, ttft[::step], s=4, color="#7f7f7f", alpha=0.35, linewidths=0,
               label="a request" if step == 1 else "every %dth request" % step)
    edges = np.linspace(0, end, 61)
    which = np.clip(np.searchsorted(edges, arrival, side="right") - 1, 0, 59)
    mids = (edges[:-1] + edges[1:]) / 2 / scale
    for q, color in ((50, COLORS[1]), (99, COLORS[0])):
        values = [np.percentile(ttft[which == b], q) if np.any(which == b) else np.nan for b in range(60)]
        ax.plot(mids, values, "-o", markersize=3, color=color, label="P%d of a window" % q)
    ax.set_ylabel("TTFT (s)")
    ax.set_title("time to first token of completed requests by arrival time (windows of %.3g %s)"
                 % ((edges[1] - edges[0]) / scale, unit), fontsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)

    if series:
        t = series["time_s"] / scale
        gpus = run["gpus"]
        ax = axes[1]
        if gpus:
            ax.plot(t, 100 * series["gpus_allocated"] / gpus, color=COLORS[1], label="allocated to instances")
            ax.plot(t, 100 * series["gpus_busy"] / gpus, color=COLORS[0], label="busy (prefill or decode)")
            ax.set_ylabel("GPUs (%% of %d)" % gpus)
            ax.set_ylim(0, 102)
        else:
            ax.plot(t, series["gpus_allocated"], color=COLORS[1], label="allocated to instances")
            ax.plot(t, series["gpus_busy"], color=COLORS[0], label="busy (prefill or decode)")
            ax.set_ylabel("GPUs")
        ax.set_title("GPU utilisation", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
        ax = axes[2]
        ax.plot(t, series["queued"], color=COLORS[4], label="queued (waiting for an instance)")
        ax.plot(t, series["running"], color=COLORS[2], label="running (in a batch)")
        ax.set_ylabel("requests")
        ax.set_title("requests in the system", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("simulated time (%s)" % unit)
    axes[-1].set_xlim(0, end / scale)
    title = run["title"]
    if not series:
        title += "\nno timeseries.csv: run with --set 'output.time_series={interval: 10 s}' for GPU utilisation"
    fig.suptitle(title, fontsize=10)
    save(fig, out_dir, "over-time")


def read_run(run_dir):
    path = os.path.join(run_dir, "requests.csv")
    if not os.path.isfile(path):
        raise InputError("%s: no requests.csv (a run written with output.requests_csv: false has no "
                         "per-request table to plot)" % run_dir)
    header, rows = read_csv(path, ["arrival_s", "latency_s", "ttft_s", "outcome"])
    outcome = header.index("outcome")
    completed = np.array([r[outcome] == "completed" for r in rows], dtype=bool)
    run = {
        "arrival": column(header, rows, "arrival_s", path),
        "latency": column(header, rows, "latency_s", path),
        "ttft": column(header, rows, "ttft_s", path),
        "completed": completed,
        "unfinished": int(np.sum([r[outcome] in ("timed_out", "rejected") for r in rows])),
        "timeout": None, "gpus": None, "makespan": 0.0, "series": None,
    }
    title = os.path.basename(os.path.normpath(os.path.abspath(run_dir)))
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.isfile(summary_path):
        try:
            with open(summary_path) as f:
                summary = json.load(f)
            run["timeout"] = float(summary.get("request_timeout_s", 0)) or None
            run["gpus"] = int(summary.get("cluster", {}).get("gpus", 0)) or None
            run["makespan"] = float(summary.get("makespan_s", 0))
            title += ": %s, %d requests" % (summary.get("policy", "?"), summary.get("requests", {}).get("arrived", 0))
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise InputError("%s: %s" % (summary_path, e))
    run["title"] = title
    series_path = os.path.join(run_dir, "timeseries.csv")
    if os.path.isfile(series_path):
        names = ["time_s", "gpus_allocated", "gpus_busy", "queued", "running"]
        sh, srows = read_csv(series_path, names)
        run["series"] = {n: column(sh, srows, n, series_path) for n in names}
        run["makespan"] = max(run["makespan"], float(run["series"]["time_s"].max()) if srows else 0.0)
    return run


# ---- a sweep --------------------------------------------------------------------------------------------

def axis_value(text):
    """A swept value as a number: plain numbers, and durations such as '10 s' in seconds; else None."""
    try:
        return float(text)
    except ValueError:
        pass
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(ns|us|ms|s|min|h)\s*", text)
    if m:
        try:
            return float(m.group(1)) * DURATION_UNITS[m.group(2)]
        except ValueError:
            return None
    return None


def metric_label(name):
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    if name.endswith("_rps"):
        return name[:-4].replace("_", " ") + " (requests/s)"
    if name.endswith("_s"):
        return name[:-2].replace("_", " ") + " (s)"
    return name.replace("_", " ")


def short(key):
    """The last component of a key path, for titles and legends: models.deployments[0].model -> model."""
    return key.rsplit(".", 1)[-1]


def determined_by(a, b, rows, cell):
    """Whether key b has one value for each value of key a over `rows` (b adds nothing to a split by a)."""
    seen = {}
    for row in rows:
        if seen.setdefault(row[cell[a]], row[cell[b]]) != row[cell[b]]:
            return False
    return True


def plot_sweep(sweep_dir, out_dir, metrics, x_key, where):
    path = os.path.join(sweep_dir, "results.csv")
    header, rows = read_csv(path, ["key", "seed"])
    if not rows:
        raise InputError("%s: no rows" % path)
    # Swept keys are configuration key paths (they hold a dot); metric columns never do.
    params = [c for c in header if "." in c]
    cell = {c: i for i, c in enumerate(header)}
    for condition in where:
        key, _, value = condition.partition("=")
        if key not in params:
            raise InputError("--where %s: not a swept key of %s (swept: %s)" % (condition, path,
                                                                               ", ".join(params) or "none"))
        rows = [row for row in rows if row[cell[key]] == value]
        if not rows:
            raise InputError("--where %s: no point of %s has that value" % (condition, path))
    repeated = "repeat" in header
    if repeated:
        r = header.index("repeat")
        means = [row for row in rows if row[r] == "mean"]
        runs = [row for row in rows if row[r] != "mean"]
        if not means:
            raise InputError("%s: a repeat column but no mean rows" % path)
    else:
        means, runs = rows, []

    if metrics:
        unknown = [m for m in metrics if m not in cell or m in params or m in ("key", "seed", "repeat")]
        if unknown:
            raise InputError("%s: no metric column %s (columns: %s)" % (path, ", ".join(unknown),
                                                                       ", ".join(header)))
    else:
        metrics = [m for m in DEFAULT_METRICS if m in cell]
        if not metrics:
            raise InputError("%s:1: none of the metrics %s: name one with --metric" % (path,
                                                                                   ", ".join(DEFAULT_METRICS)))

    # The keys that split the points: those that vary, less those that follow another (a model's count
    # listed with the model).
    kept = []
    for p in params:
        if len({row[cell[p]] for row in means}) > 1 and not any(determined_by(k, p, means, cell) for k in kept):
            kept.append(p)
    if x_key:
        if x_key not in params:
            raise InputError("--x %s: not a swept key of %s (swept: %s)" % (x_key, path, ", ".join(params) or "none"))
        kept = [x_key] + [k for k in kept if k != x_key and not determined_by(x_key, k, means, cell)]
    else:
        numeric = [p for p in kept if all(axis_value(row[cell[p]]) is not None for row in means)]
        x_key = (numeric or kept or params or ["key"])[0]
    numeric_x = all(axis_value(row[cell[x_key]]) is not None for row in means)
    categories = []
    for row in means:
        if row[cell[x_key]] not in categories:
            categories.append(row[cell[x_key]])

    def x_of(row):
        text = row[cell[x_key]]
        return axis_value(text) if numeric_x else categories.index(text)

    # One line per value of the series key (the policy when it varies: what sweeps mostly compare), one
    # column of panels per combination of the other keys, one row per metric.
    others = [k for k in kept if k != x_key]
    series_key = "policy.name" if "policy.name" in others else (others[-1] if others else None)
    facet_keys = [k for k in others if k != series_key]

    def distinct(fn):
        out = []
        for row in means:
            if fn(row) not in out:
                out.append(fn(row))
        return out

    series = distinct(lambda row: row[cell[series_key]] if series_key else "")
    facets = distinct(lambda row: tuple(row[cell[k]] for k in facet_keys))
    if len(facets) > 12:
        raise InputError("%s: %d panels (one per value of %s): choose some with --where KEY=VALUE, or the x axis "
                         "with --x" % (path, len(facets), " x ".join(facet_keys)))

    import_matplotlib()
    if len(facets) == 1 and len(metrics) > 1:
        cols = 2
        lines = (len(metrics) + 1) // 2
        panel = lambda m, f: (m // 2, m % 2)  # noqa: E731
    else:
        cols, lines = len(facets), len(metrics)
        panel = lambda m, f: (m, f)  # noqa: E731
    fig, axes = plt.subplots(lines, cols, figsize=(max(5.5, 4.2 * cols) if cols > 1 else 6.5, 3.4 * lines),
                             squeeze=False, sharex=True)
    for ax in axes.flat:
        ax.set_visible(False)
    unit = AXIS_UNITS.get(x_key)
    if numeric_x and all(re.fullmatch(r".*[0-9]\s*(ns|us|ms|s|min|h)\s*", row[cell[x_key]]) for row in means):
        unit = "s"
    values = sorted({x_of(row) for row in means})
    log_x = numeric_x and values and values[0] > 0 and values[-1] / values[0] >= 50
    xlabel = x_key + (" (%s)" % unit if unit else "") + (", log scale" if log_x else "")
    for m, metric in enumerate(metrics):
        ci = cell.get(metric + "_ci95")
        for f, facet in enumerate(facets):
            ax = axes[panel(m, f)]
            ax.set_visible(True)
            in_facet = lambda row: tuple(row[cell[k]] for k in facet_keys) == facet  # noqa: E731
            for s, name in enumerate(series):
                in_series = lambda row: (row[cell[series_key]] if series_key else "") == name  # noqa: E731
                mine = sorted((row for row in means if in_facet(row) and in_series(row)), key=x_of)
                if not mine:
                    continue
                xs = [x_of(row) for row in mine]
                ys = [number(row[cell[metric]], path, 0, metric) for row in mine]
                color, marker = COLORS[s % len(COLORS)], MARKERS[s % len(MARKERS)]
                if ci is not None:
                    errs = [number(row[ci], path, 0, metric + "_ci95") for row in mine]
                    errs = [0.0 if math.isnan(e) else e for e in errs]
                    ax.errorbar(xs, ys, yerr=errs, color=color, marker=marker, capsize=3, label=name or None)
                else:
                    ax.plot(xs, ys, color=color, marker=marker, label=name or None)
                # Each seed of a repeated point, faint behind its mean.
                seeds = [row for row in runs if in_facet(row) and in_series(row)]
                if seeds:
                    ax.scatter([x_of(row) for row in seeds],
                               [number(row[cell[metric]], path, 0, metric) for row in seeds],
                               color=color, alpha=0.35, s=14, linewidths=0)
            ax.grid(alpha=0.3)
            if log_x:
                ax.set_xscale("log")
            if not numeric_x:
                ax.set_xticks(range(len(categories)))
                ax.set_xticklabels(categories, rotation=20 if max(len(c) for c in categories) > 8 else 0)
            row_index, col_index = panel(m, f)
            if col_index == 0 or len(facets) == 1:
                ax.set_ylabel(metric_label(metric), fontsize=9)
            if facet_keys and row_index == 0:
                ax.set_title(", ".join("%s=%s" % (short(k), v) for k, v in zip(facet_keys, facet)), fontsize=9)
            if row_index == lines - 1 or (len(facets) == 1 and m + 2 >= len(metrics)):
                ax.set_xlabel(xlabel)
                ax.xaxis.set_tick_params(labelbottom=True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    seeds = len(runs) / max(len(means), 1)
    if seeds > 1:
        what = "mean of %s seeds with 95%% intervals" % ("%d" % seeds if seeds == int(seeds) else "%.1f" % seeds)
    else:
        what = "one run per point"
    title = "%s: %d points (%s)" % (os.path.basename(os.path.normpath(os.path.abspath(sweep_dir))), len(means), what)
    if where:
        title += ", " + ", ".join(where)
    fig.suptitle(title, fontsize=10)
    legend_rows = (len(labels) + 5) // 6
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8,
                   title=series_key, title_fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, (0.25 * legend_rows + 0.2) / fig.get_figheight() if handles else 0, 1, 1))
    save(fig, out_dir, "sweep")


def main(argv):
    parser = argparse.ArgumentParser(prog="sllmsim plot", description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("out_dir")
    parser.add_argument("--metric", action="append", default=[])
    parser.add_argument("--x")
    parser.add_argument("--where", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        if os.path.isfile(os.path.join(args.dir, "results.csv")):
            plot_sweep(args.dir, args.out_dir, args.metric, args.x, args.where)
        elif os.path.isfile(os.path.join(args.dir, "requests.csv")) or os.path.isfile(
                os.path.join(args.dir, "summary.json")):
            if args.metric or args.x or args.where:
                raise InputError("%s: a run directory: --metric, --x and --where apply to sweeps" % args.dir)
            run = read_run(args.dir)
            plot_cdfs(run, args.out_dir)
            plot_over_time(run, args.out_dir)
        else:
            raise InputError("%s: neither a run directory (requests.csv, summary.json) nor a sweep directory "
                             "(results.csv)" % args.dir)
    except InputError as e:
        print("sllmsim plot: error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
