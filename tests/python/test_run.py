"""sllmsim.run(): configs from a path and from a dict, overrides and seeds, the same results as the CLI,
the per-request arrays, and errors that name the field."""

import json
import math

import numpy as np
import pytest

import sllmsim
from conftest import DEFAULT_CONFIG, conserved, read_json, run_cli, small


def test_run_from_path_with_overrides_and_seed():
    r = sllmsim.run(DEFAULT_CONFIG, overrides=["workload.requests=120"], seed=5)
    assert r.summary["requests"]["arrived"] == 120
    assert r.summary["seed"] == 5
    # The seed is the override simulation.seed=N after the others, as the CLI's --seed.
    assert r.summary["provenance"]["overrides"] == ["workload.requests=120", "simulation.seed=5"]
    assert conserved(r.summary["requests"])
    assert r.output_dir is None


def test_run_from_dict_and_mapping_overrides():
    r = sllmsim.run(small(requests=90), overrides={"workload.rps": 2, "policy.name": "serverless"})
    assert r.summary["requests"]["arrived"] == 90
    assert r.summary["policy"] == "serverless"
    assert r.summary["provenance"]["overrides"] == ["workload.rps=2", "policy.name=serverless"]


def test_same_seed_same_run_other_seed_other_run():
    a = sllmsim.run(small(), seed=11)
    b = sllmsim.run(small(), seed=11)
    c = sllmsim.run(small(), seed=12)
    assert a.summary == b.summary
    for name, column in a.requests.items():
        np.testing.assert_array_equal(column, b.requests[name])
    assert a.summary["fingerprint"] != c.summary["fingerprint"]


def test_summary_and_requests_equal_the_clis(cli, tmp_path):
    """Same config file, overrides and seed: the CLI's summary.json and requests.csv, byte for byte, except
    the build id, which names the binary that ran (the executable, or the Python module)."""
    overrides = ["workload.requests=300", "output.timing=false"]
    run_cli(cli, "run", "-q", "-c", DEFAULT_CONFIG, *[a for o in overrides for a in ("--set", o)], "--seed", 9,
            "-o", tmp_path / "cli")
    r = sllmsim.run(str(DEFAULT_CONFIG), overrides=overrides, seed=9, output_dir=tmp_path / "py")
    expected = read_json(tmp_path / "cli" / "summary.json")
    written = read_json(tmp_path / "py" / "summary.json")
    assert written == r.summary
    assert r.summary["provenance"].pop("build") == sllmsim._sllmsim.build_id()
    expected["provenance"].pop("build")
    assert r.summary == expected
    assert (tmp_path / "py" / "requests.csv").read_bytes() == (tmp_path / "cli" / "requests.csv").read_bytes()
    assert r.output_dir == str(tmp_path / "py")


def test_dict_config_equals_the_same_config_as_a_file(cli, tmp_path):
    """A dict is the config's JSON text: the CLI given that text as a file runs the same scenario (the same
    config hash too)."""
    config = small()
    (tmp_path / "small.json").write_text(json.dumps(config, indent=2))
    run_cli(cli, "run", "-q", "-c", tmp_path / "small.json", "-o", tmp_path / "cli")
    r = sllmsim.run(config)
    expected = read_json(tmp_path / "cli" / "summary.json")
    expected["provenance"].pop("build")
    r.summary["provenance"].pop("build")
    assert r.summary == expected


def test_requests_arrays_conserve_requests():
    r = sllmsim.run(small(requests=200), overrides=["simulation.request_timeout=5 s", "workload.rps=5"])
    req, s = r.requests, r.summary["requests"]
    assert s["timed_out"] > 0, "the short timeout should drop some requests (else this test checks less)"
    assert len(req["id"]) == s["arrived"] == 200
    assert len(np.unique(req["id"])) == 200
    assert req["id"].dtype == np.int64 and req["latency_s"].dtype == np.float64 and req["model"].dtype.kind == "U"
    outcomes = {o: int((req["outcome"] == o).sum()) for o in ("completed", "timed_out", "rejected")}
    assert outcomes["completed"] == s["completed"]
    assert outcomes["timed_out"] == s["timed_out"]
    assert sum(outcomes.values()) == s["arrived"] - s["running"]
    completed = req["outcome"] == "completed"
    # Latency is completion minus arrival (each printed to the nanosecond).
    assert np.all(np.abs(req["latency_s"][completed] - (req["completion_s"] - req["arrival_s"])[completed]) < 3e-9)
    # Requests that were never served have no first token (NaN where the CSV is empty).
    assert np.all(np.isnan(req["first_token_s"][~completed]))
    assert int(req["cold_start"].sum()) == r.summary["cold_starts"]


def test_requests_df():
    r = sllmsim.run(small(requests=60))
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pandas"):
            r.requests_df()
        return
    df = r.requests_df()
    assert len(df) == 60
    assert list(df.columns) == list(r.requests)


def test_no_requests_csv():
    r = sllmsim.run(small(requests=30), overrides=["output.requests_csv=false"])
    assert r.requests is None
    assert r.summary["requests"]["arrived"] == 30
    with pytest.raises(ValueError, match="requests_csv"):
        r.requests_df()


def test_bad_config_names_the_field():
    bad = small()
    bad["workload"]["rps"] = "fast"
    with pytest.raises(sllmsim.InputError, match=r"workload\.rps"):
        sllmsim.run(bad)
    with pytest.raises(ValueError, match=r"workload\.requests"):  # InputError is a ValueError
        sllmsim.run(DEFAULT_CONFIG, overrides=["workload.requests=-5"])
    with pytest.raises(sllmsim.InputError, match=r"unknown scheduling policy 'nope'.*'serverlessllm'"):
        sllmsim.run(small(policy="nope"))
    with pytest.raises(sllmsim.InputError, match="no-such-file.yaml"):
        sllmsim.run("no-such-file.yaml")
    with pytest.raises(TypeError, match="list of 'key.path=value'"):
        sllmsim.run(small(), overrides="workload.requests=5")
    with pytest.raises(TypeError, match="seed must be an int"):
        sllmsim.run(small(), seed=1.5)
    with pytest.raises(ValueError):  # NaN is no JSON, so no config
        sllmsim.run({**small(), "simulation": {"seed": math.nan}})
