"""Policies written in Python: registered by name, selected from YAML, equal to the C++ policy they
re-implement, run in sweeps (in parallel too), and their errors."""

import random

import numpy as np
import pytest

import sllmsim
from conftest import conserved, small

Tier = sllmsim.Tier


class PyServerless(sllmsim.SchedulingPolicy):
    """The C++ 'serverless' baseline (policies/src/serverless.cpp, availability.h) line for line: round-robin
    from the last choice over servers with enough free GPUs, then over servers where idle instances can be
    unloaded; always loads from the remote store."""

    def __init__(self, params):
        self.reclaim_idle = params.get_bool("reclaim_idle", True)
        self.next = 0

    def place(self, view, model):
        need, n = view.gpus_needed(model), view.server_count()
        for reclaim in ([False, True] if self.reclaim_idle else [False]):
            for k in range(n):
                s = (self.next + k) % n
                if not reclaim:
                    if view.free_gpus(s) < need:
                        continue
                    plan = []
                else:
                    plan = view.reclaim_plan(s, need)
                    if plan is None:
                        continue
                self.next = (s + 1) % n
                estimate = view.loading_queue_wait(s) + view.estimate_load(s, model, Tier.REMOTE)
                return sllmsim.Decision.start(s, Tier.REMOTE, unload_idle=plan, estimated_startup=estimate)
        return None


class PyFixed(sllmsim.KeepAlivePolicy):
    """The C++ 'fixed' keep-alive: unload after `timeout` idle."""

    def __init__(self, params):
        self.timeout = params.get_duration("timeout", "60 s")

    def keep_alive(self, model, now):
        return self.timeout


class LeastLoaded(sllmsim.SchedulingPolicy):
    """The server with the fewest instances where the model fits (after unloading idle ones), fastest tier."""

    def place(self, view, model):
        need = view.gpus_needed(model)
        best = None
        for s in range(view.server_count()):
            plan = view.reclaim_plan(s, need)
            if plan is not None and (best is None or len(view.instances_on(s)) < best[0]):
                best = (len(view.instances_on(s)), s, plan)
        if best is None:
            return sllmsim.Decision.wait()
        _, s, plan = best
        return sllmsim.Decision.start(s, view.best_tier(s, model), unload_idle=plan)


class RandomServer(sllmsim.SchedulingPolicy):
    """A random server that has room, from its own seeded generator (`seed`), or only `server` when set."""

    def __init__(self, params):
        self.random = random.Random(params.get_int("seed", 0))
        self.only = params.get_int("server", -1, -1, 1000)

    def place(self, view, model):
        need = view.gpus_needed(model)
        servers = [self.only] if self.only >= 0 else list(range(view.server_count()))
        fits = [(s, plan) for s in servers if (plan := view.reclaim_plan(s, need)) is not None]
        if not fits:
            return None
        s, plan = self.random.choice(fits)
        return sllmsim.Decision.start(s, view.best_tier(s, model), unload_idle=plan)


sllmsim.register_policy("py-serverless", PyServerless)
sllmsim.register_policy("py-fixed", PyFixed)
sllmsim.register_policy("py-least-loaded", LeastLoaded)
sllmsim.register_policy("py-random", RandomServer)


def without_names(summary):
    """A summary less what names the policy and the config's text."""
    out = dict(summary)
    out.pop("policy")
    out.pop("provenance")
    return out


def test_registered_like_cpp_policies():
    listed = sllmsim.policies()
    assert "py-serverless" in listed["scheduling"] and "serverless" in listed["scheduling"]
    assert "py-fixed" in listed["keep_alive"]
    assert "The C++ 'serverless' baseline" in listed["scheduling"]["py-serverless"]


def test_python_reimplementations_equal_the_cpp_policies():
    """A Python port of a C++ policy makes the same decisions: the same event order and the same results."""
    cpp = sllmsim.run(small(policy="serverless"))
    py = sllmsim.run(small(policy="py-serverless"))
    assert py.summary["policy"] == "py-serverless"
    assert py.summary["loads"]["total"] > 0 and py.summary["loads"]["remote"] == py.summary["loads"]["total"]
    assert without_names(py.summary) == without_names(cpp.summary)
    both = sllmsim.run(small(policy="py-serverless", keep_alive={"name": "py-fixed", "timeout": "30 s"}))
    assert without_names(both.summary) == without_names(cpp.summary)
    shorter = sllmsim.run(small(policy="serverless", keep_alive={"name": "py-fixed", "timeout": "1 s"}))
    assert shorter.summary["fingerprint"] != cpp.summary["fingerprint"]


def test_python_policy_params_and_its_decisions_carried_out():
    r = sllmsim.run(small(), overrides=["policy.name=py-random", "policy.server=1", "policy.seed=4"])
    assert conserved(r.summary["requests"]) and r.summary["requests"]["completed"] > 0
    served = r.requests["server"][~np.isnan(r.requests["server"].astype(float))]
    assert len(served) > 0 and set(served.tolist()) == {1}
    # A key the policy does not read is rejected, located in the config.
    with pytest.raises(sllmsim.InputError, match=r"policy\.bogus"):
        sllmsim.run(small(policy="py-random"), overrides=["policy.bogus=1"])
    # The policy's own getter checks its range.
    with pytest.raises(sllmsim.InputError, match=r"policy\.server"):
        sllmsim.run(small(policy="py-random"), overrides=["policy.server=5000"])


def test_keep_alive_forever_never_unloads():
    class Forever(sllmsim.KeepAlivePolicy):
        def keep_alive(self, model, now):
            return None

    sllmsim.register_policy("py-forever", Forever)
    # Never unloading is what a fixed timeout longer than the whole run does.
    forever = sllmsim.run(small(keep_alive="py-forever"))
    fixed = sllmsim.run(small(keep_alive={"name": "fixed", "timeout": "10000 s"}))
    assert fixed.summary["makespan_s"] < 10000
    assert forever.summary["fingerprint"] == fixed.summary["fingerprint"]
    assert forever.summary["loads"] == fixed.summary["loads"]
    # ... and differs from unloading after 1 s idle.
    assert forever.summary["fingerprint"] != sllmsim.run(small(keep_alive={"name": "fixed", "timeout": "1 s"})).summary["fingerprint"]


def test_python_policy_in_a_sweep_in_parallel(tmp_path):
    spec = {
        "base": small(requests=80),
        "seed": 3,
        "grid": {"policy.name": ["py-least-loaded", "serverlessllm", "py-serverless"], "workload.rps": [0.5, 2]},
        "seed_by": ["workload.rps"],
        "repeat": 2,
    }
    one = sllmsim.sweep(spec, jobs=1, output_dir=tmp_path / "one")
    three = sllmsim.sweep(spec, jobs=3, output_dir=tmp_path / "three")
    assert one.planned == 12 and one.ran == 12
    assert (tmp_path / "one" / "results.csv").read_bytes() == (tmp_path / "three" / "results.csv").read_bytes()
    runs, means = three.runs, three.means
    assert list(runs["policy.name"]) == ["py-least-loaded"] * 4 + ["serverlessllm"] * 4 + ["py-serverless"] * 4
    assert list(runs["repeat"]) == [0, 1] * 6 and runs["seed"].dtype == np.int64
    assert np.all(runs["arrived"] == 80)
    assert np.all(runs["arrived"] == runs["completed"] + runs["timed_out"] + runs["rejected"] + runs["running"])
    assert runs["fingerprint"].dtype.kind == "U"
    # The mean rows: one per parameter point, the mean of its two runs.
    assert list(means["policy.name"]) == ["py-least-loaded"] * 2 + ["serverlessllm"] * 2 + ["py-serverless"] * 2
    np.testing.assert_allclose(means["makespan_s"], runs["makespan_s"].reshape(6, 2).mean(axis=1), rtol=1e-8)
    assert np.all(np.isfinite(means["makespan_s_ci95"]))
    # Run again into the same directory: every run is complete and skipped.
    again = sllmsim.sweep(spec, jobs=2, output_dir=tmp_path / "three")
    assert again.ran == 0 and again.skipped == 12


def test_sweep_from_a_file_without_output_dir(tmp_path):
    (tmp_path / "base.json").write_text(__import__("json").dumps(small(requests=40)))
    (tmp_path / "sweep.yaml").write_text("base: base.json\ngrid:\n  policy.name: [py-random, serverless]\n")
    r = sllmsim.sweep(tmp_path / "sweep.yaml", jobs=2)
    assert r.output_dir is None
    assert list(r.runs["policy.name"]) == ["py-random", "serverless"]
    assert list(r.means["policy.name"]) == ["py-random", "serverless"]
    np.testing.assert_array_equal(r.means["arrived"], r.runs["arrived"])


class Boom(sllmsim.SchedulingPolicy):
    def place(self, view, model):
        raise ValueError("boom from place")


sllmsim.register_policy("py-boom", Boom)


def test_python_policy_exception_is_a_clear_error(tmp_path):
    with pytest.raises(sllmsim.PolicyError, match=r"(?s)'py-boom'.*place\(\).*ValueError: boom from place"):
        sllmsim.run(small(policy="py-boom"))
    spec = {"base": small(requests=40), "grid": {"policy.name": ["serverless", "py-boom"]}}
    with pytest.raises(sllmsim.SweepError, match="boom from place") as failed:
        sllmsim.sweep(spec, jobs=2, output_dir=tmp_path)
    assert len(failed.value.failures) == 1 and failed.value.failures[0].startswith("policy.name=py-boom")
    assert not (tmp_path / "results.csv").exists()


def test_bad_decisions_are_refused():
    class Returns(sllmsim.SchedulingPolicy):
        answer = None

        def place(self, view, model):
            return type(self).answer(view) if callable(type(self).answer) else type(self).answer

    sllmsim.register_policy("py-returns", Returns)
    for answer, message in [
        (5, "returned a int, expected a sllmsim.Decision or None"),
        (lambda view: sllmsim.Decision.start(99), "server 99, which does not exist"),
        (lambda view: sllmsim.Decision.start(0, unload_idle=[4321]), "instance 4321 in unload_idle, which is not alive"),
    ]:
        Returns.answer = answer
        with pytest.raises(sllmsim.PolicyError, match=message):
            sllmsim.run(small(policy="py-returns", requests=20))


def test_view_is_valid_only_during_the_call():
    kept = []

    class Keeper(LeastLoaded):
        def place(self, view, model):
            assert view.model_count() == 12 and view.server_count() == 2
            with pytest.raises(IndexError, match="server 7 does not exist"):
                view.free_gpus(7)
            with pytest.raises(IndexError, match="model 12 does not exist"):
                view.gpus_needed(12)
            kept.append(view)
            return super().place(view, model)

    sllmsim.register_policy("py-keeper", Keeper)
    sllmsim.run(small(policy="py-keeper", requests=20))
    assert kept
    with pytest.raises(RuntimeError, match="valid only during the call"):
        kept[0].server_count()


def test_registration_errors():
    with pytest.raises(ValueError, match="built-in scheduling policy"):
        sllmsim.register_policy("serverlessllm", LeastLoaded)
    with pytest.raises(TypeError, match="SchedulingPolicy or KeepAlivePolicy"):
        sllmsim.register_policy("py-nothing", object)

    class BadInit(sllmsim.SchedulingPolicy):
        def __init__(self, params):
            raise RuntimeError("cannot start")

    sllmsim.register_policy("py-bad-init", BadInit)
    with pytest.raises(sllmsim.InputError, match=r"(?s)policy.*'py-bad-init' could not be created.*cannot start"):
        sllmsim.run(small(policy="py-bad-init"))
