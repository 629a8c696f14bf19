"""sllmsim from Python: run scenarios and sweeps of the serverless LLM inference simulator, read their
results as NumPy arrays, and write scheduling and keep-alive policies as Python classes.

    import sllmsim
    result = sllmsim.run("configs/default.yaml", seed=3)
    result.summary["latency"]["p99_s"], result.requests["ttft_s"]

docs/python.md is the tutorial. Times the simulator hands a policy are int nanoseconds (SECOND below).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Iterator, Mapping, Sequence, Union

from . import _sllmsim
from ._sllmsim import (
    ClusterView,
    Decision,
    InputError,
    InstanceInfo,
    InstancePhase,
    MigrationOrder,
    Params,
    PolicyError,
    RequestProgress,
    Tier,
)

# Shown as sllmsim.X (tracebacks, repr) rather than as the extension module's.
for _name in ("ClusterView", "Decision", "InputError", "InstanceInfo", "InstancePhase", "MigrationOrder", "Params",
              "PolicyError", "RequestProgress", "Tier"):
    getattr(_sllmsim, _name).__module__ = __name__
del _name

__version__ = _sllmsim.version()
__all__ = [
    "ClusterView", "Decision", "InputError", "InstanceInfo", "InstancePhase", "KeepAlivePolicy", "MILLISECOND",
    "MigrationOrder", "Params", "PolicyError", "RequestProgress", "Result", "SECOND", "SchedulingPolicy",
    "SweepError", "SweepResult", "Tier", "policies", "register_policy", "run", "sweep",
]

SECOND = 1_000_000_000  # the simulator's clock counts integer nanoseconds
MILLISECOND = 1_000_000

Config = Union[str, "os.PathLike[str]", Mapping[str, Any]]
Overrides = Union[Sequence[str], Mapping[str, Any]]


class SchedulingPolicy:
    """Base class of a scheduling policy written in Python; the C++ interface is SchedulingPolicy in
    sim/include/sllm/sim/policy.h. Register a subclass with register_policy("name", cls) and select it
    with `policy: {name: name, ...}` in YAML.

    __init__(self, params): `params` (Params) is the `policy:` section; read your own keys from it (keys
        nothing read are an error, as for a C++ policy). It is valid only during __init__. A policy is
        created once when the config is checked and once per run.
    place(self, view, model) -> Decision | None: `model` has more demand than its instances can take;
        answer Decision.start(server, tier, ...), Decision.wait() (or None) or Decision.reject(). `view`
        (ClusterView) is valid only during the call.
    Optional, called only when the class defines them:
    replace_load(self, view, loading, ready_in, spare) -> Decision | None: requests wait for instance
        `loading`, ready in `ready_in` ns; `spare` lists the servers with free or idle GPUs. A start on
        one of them (no migrations or preemptions) replaces the load; anything else keeps it.
    on_load_finished(self, server, model, tier, estimated, actual): a load's estimate and actual time (ns).
    Class attributes (read once, when the policy is created):
    may_preempt: True when place() may preempt or migrate running instances (it is then asked even when
        no GPU is free or idle); moves_need_spare_gpus: True when it only migrates onto free or idle GPUs.
    """

    may_preempt = False
    moves_need_spare_gpus = False

    def __init__(self, params: Params) -> None:
        del params

    def place(self, view: ClusterView, model: int) -> Decision | None:
        raise NotImplementedError(f"{type(self).__qualname__} must define place(view, model)")


class KeepAlivePolicy:
    """Base class of a keep-alive policy written in Python; the C++ interface is KeepAlivePolicy in
    sim/include/sllm/sim/policy.h. Register a subclass with register_policy("name", cls) and select it
    with `policy: {keep_alive: {name: name, ...}}` in YAML.

    __init__(self, params): `params` (Params) is the `policy.keep_alive:` section (empty when the YAML
        names the policy only), valid only during __init__.
    keep_alive(self, model, now) -> int | None: how long (ns) an instance of `model` that became idle at
        `now` stays loaded; None: forever.
    Optional, called only when the class defines them:
    on_request(self, model, now): a request for `model` arrived (called for every request).
    prewarm_delay(self, model, now) -> int | None: an instance of `model` was unloaded at `now`; load one
        again this many ns later, ahead of demand (None: only on demand).
    """

    def __init__(self, params: Params) -> None:
        del params

    def keep_alive(self, model: int, now: int) -> int | None:
        raise NotImplementedError(f"{type(self).__qualname__} must define keep_alive(model, now)")


def register_policy(name: str, cls: type, summary: str | None = None) -> None:
    """Register the policy class `cls` under `name`, as a scheduling policy (a SchedulingPolicy subclass,
    or a class with place()) or a keep-alive policy (a KeepAlivePolicy subclass, or a class with
    keep_alive()). YAML then selects it like a C++ policy. Registering a name again replaces the class;
    a built-in policy's name is refused (ValueError)."""
    kinds = []
    for kind, base, method in (("scheduling", SchedulingPolicy, "place"), ("keep_alive", KeepAlivePolicy, "keep_alive")):
        if isinstance(cls, type) and issubclass(cls, base):
            kinds = [kind]
            break
        if hasattr(cls, method):
            kinds.append(kind)
    if len(kinds) != 1:
        raise TypeError(f"register_policy() needs a SchedulingPolicy or KeepAlivePolicy subclass (or a class with "
                        f"exactly one of place() and keep_alive()), got {cls!r}")
    if summary is None:
        doc = (getattr(cls, "__doc__", None) or "").strip().splitlines()
        where = f"Python {getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', repr(cls))}"
        summary = f"{where}: {doc[0]}" if doc else where
    _sllmsim.register_policy(kinds[0], name, cls, summary)


def policies() -> dict[str, dict[str, str]]:
    """The registered policies by kind ('scheduling', 'keep_alive', 'eviction'): {name: summary}."""
    return _sllmsim.registered_policies()


def _dataframe(columns: Mapping[str, Any], what: str):
    try:
        import pandas
    except ImportError as e:
        raise ImportError(f"{what}_df() needs pandas, which is not installed (Debian: apt install python3-pandas; "
                          f"or pip install pandas); .{what} holds the same columns as NumPy arrays") from e
    return pandas.DataFrame(dict(columns))


class Result:
    """A run's results.

    summary: dict, the content of summary.json.
    requests: dict of NumPy arrays, the columns of requests.csv (None when output.requests_csv is false).
        Integer columns are int64 (float64 with NaN when some values are empty, e.g. first_token_s of a
        request that timed out), other numbers float64, text columns numpy str.
    output_dir: where the outputs are, or None when run() was given no output_dir.
    """

    def __init__(self, summary: dict, requests: dict | None, output_dir: str | None) -> None:
        self.summary = summary
        self.requests = requests
        self.output_dir = output_dir

    def requests_df(self):
        """requests as a pandas DataFrame (ImportError when pandas is not installed)."""
        if self.requests is None:
            raise ValueError("this run wrote no requests.csv (output.requests_csv: false)")
        return _dataframe(self.requests, "requests")

    def __repr__(self) -> str:
        r = self.summary.get("requests", {})
        return (f"<sllmsim.Result policy={self.summary.get('policy')!r} arrived={r.get('arrived')} "
                f"completed={r.get('completed')} output_dir={self.output_dir!r}>")


class SweepResult:
    """A sweep's results: results.csv (docs/config.md, "Sweep results"), its two kinds of rows apart.

    runs: dict of NumPy arrays, one row per run (each parameter point `repeat` times, in sweep order):
        key, seed, repeat (0..N-1), the swept keys, every metric.
    means: dict of NumPy arrays, one row per parameter point: key, the swept keys, each numeric metric's
        mean over the point's runs and its 95% interval half-width `<metric>_ci95` (NaN with one run).
    output_dir: where plan.txt, results.csv and points/<key>/ are, or None when sweep() was given none.
    planned, ran, skipped: runs of the sweep, run now, and found complete from an earlier sweep.
    """

    def __init__(self, runs: dict, means: dict, output_dir: str | None, planned: int, ran: int,
                 skipped: int) -> None:
        self.runs, self.means = runs, means
        self.output_dir = output_dir
        self.planned, self.ran, self.skipped = planned, ran, skipped

    def runs_df(self):
        """runs as a pandas DataFrame (ImportError when pandas is not installed)."""
        return _dataframe(self.runs, "runs")

    def means_df(self):
        """means as a pandas DataFrame (ImportError when pandas is not installed)."""
        return _dataframe(self.means, "means")

    def __repr__(self) -> str:
        return f"<sllmsim.SweepResult runs={self.planned} ran={self.ran} output_dir={self.output_dir!r}>"


class SweepError(RuntimeError):
    """Points of a sweep failed; `failures` lists "key: message" for each (results.csv is not written,
    and running the sweep again into the same output_dir retries only those)."""

    def __init__(self, failures: Sequence[str]) -> None:
        self.failures = list(failures)
        shown = "\n  ".join(self.failures[:5]) + ("\n  ..." if len(self.failures) > 5 else "")
        super().__init__(f"{len(self.failures)} sweep point(s) failed:\n  {shown}")


def _config_source(config: Config) -> tuple[str, str]:
    """(path, "") for a file, ("", JSON text) for a mapping."""
    if isinstance(config, (str, os.PathLike)):
        return os.fspath(config), ""
    if isinstance(config, Mapping):
        return "", json.dumps(config, indent=2, allow_nan=False)
    raise TypeError(f"config must be a YAML file's path or a dict, got {type(config).__name__}")


def _override_list(overrides: Overrides) -> list[str]:
    """`--set` assignments from a list of "key.path=value" strings or a {key.path: value} mapping."""
    if isinstance(overrides, str):
        raise TypeError("overrides is a list of 'key.path=value' strings (or a dict), not one string")
    if isinstance(overrides, Mapping):
        return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in overrides.items()]
    out = list(overrides)
    for o in out:
        if not isinstance(o, str):
            raise TypeError(f"an override is a 'key.path=value' string, got {o!r}")
    return out


@contextlib.contextmanager
def _output_dir(output_dir: str | os.PathLike | None) -> Iterator[str]:
    """The directory to write into: `output_dir` (created when missing) or a temporary one, removed after."""
    if output_dir is None:
        with tempfile.TemporaryDirectory(prefix="sllmsim-") as tmp:
            yield tmp
    else:
        path = os.path.abspath(os.fspath(output_dir))
        os.makedirs(path, exist_ok=True)
        yield path


def run(config: Config, overrides: Overrides = (), seed: int | None = None,
        output_dir: str | os.PathLike | None = None) -> Result:
    """Simulate the scenario `config` (a YAML file's path, or a dict with the same content) as
    `sllmsim run -c CONFIG [--set ...] [--seed N] [-o DIR]` does; same config and seed, same results.

    overrides: ["key.path=value", ...] (or {"key.path": value}), applied in order, as --set.
    seed: replaces simulation.seed (as --seed: the override "simulation.seed=N" after the others).
    output_dir: also keep requests.csv and summary.json (and any other outputs the config asks for) there.
    Raises InputError (a ValueError) naming the file, line and key of a bad config, PolicyError when a
    Python policy raises.
    """
    path, text = _config_source(config)
    assignments = _override_list(overrides)
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        assignments.append(f"simulation.seed={seed}")
    with _output_dir(output_dir) as out:
        summary = json.loads(_sllmsim.run(path, text, "<dict>", assignments, out))
        requests_csv = os.path.join(out, "requests.csv")
        requests = _sllmsim.read_table(requests_csv) if os.path.exists(requests_csv) else None
    return Result(summary, requests, None if output_dir is None else os.path.abspath(os.fspath(output_dir)))


def sweep(spec: Config, jobs: int = 0, output_dir: str | os.PathLike | None = None, overrides: Overrides = (),
          quick: bool = False) -> SweepResult:
    """Run a sweep (a sweep file's path, or a dict with its content: base, set, grid, points, seed, seed_by,
    repeat, quick; docs/paper.md) as `sllmsim sweep -c SWEEP -j JOBS -o DIR [--set ...] [--quick]` does.

    A dict's `base` may itself be a dict (a scenario); a relative base path is relative to the working
    directory. The dicts are written to output_dir as sweep.json (and base.json) so the sweep can be
    resumed. jobs: points run in parallel (0: one per hardware thread); points that use Python policies
    run in parallel too, taking turns inside Python code (the interpreter's lock). Points already complete
    in output_dir are skipped. Raises SweepError when points fail, InputError for a bad sweep or point.
    """
    assignments = _override_list(overrides)
    with _output_dir(output_dir) as out:
        if isinstance(spec, Mapping):
            spec = dict(spec)
            base = spec.get("base")
            if isinstance(base, Mapping):
                base_path = os.path.join(out, "base.json")
                with open(base_path, "w", encoding="utf-8") as f:
                    json.dump(base, f, indent=2, allow_nan=False)
                spec["base"] = base_path
            elif isinstance(base, (str, os.PathLike)):
                spec["base"] = os.path.abspath(os.fspath(base))
            path = os.path.join(out, "sweep.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(spec, f, indent=2, allow_nan=False)
        elif isinstance(spec, (str, os.PathLike)):
            path = os.fspath(spec)
        else:
            raise TypeError(f"spec must be a sweep file's path or a dict, got {type(spec).__name__}")
        planned, ran, skipped, failures = _sllmsim.sweep(path, quick, assignments, out, jobs)
        if failures:
            raise SweepError(failures)
        results = os.path.join(out, "results.csv")
        text = _sllmsim.RESULTS_TEXT_COLUMNS
        # Per-run rows leave the intervals empty, mean rows the seed; repeat is "mean" in mean rows.
        runs = _sllmsim.read_table(results, text, "repeat", "mean", False)
        means = _sllmsim.read_table(results, text, "repeat", "mean", True)
    runs = {k: v for k, v in runs.items() if not k.endswith("_ci95")}
    means = {k: v for k, v in means.items() if k not in ("seed", "repeat")}
    return SweepResult(runs, means, None if output_dir is None else os.path.abspath(os.fspath(output_dir)),
                       planned, ran, skipped)
