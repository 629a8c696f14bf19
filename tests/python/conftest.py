"""Shared set-up of the Python bindings' tests (run by ctest as python_test, with PYTHONPATH pointing at
the build's python/ folder, SLLMSIM_BINARY at the CLI and SLLMSIM_SOURCE_DIR at the checkout)."""

import copy
import json
import os
import pathlib
import subprocess

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("SLLMSIM_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
DEFAULT_CONFIG = SOURCE_DIR / "configs" / "default.yaml"

# A small scenario: two servers of four A40s, twelve OPT-6.7B checkpoints, bursty arrivals.
SMALL = {
    "cluster": {
        "remote_store": {"bandwidth": "10 Gbps"},
        "runtime_init": "0.5 s",
        "servers": [{"count": 2, "gpus": {"type": "A40", "count": 4}, "dram": {"capacity": "512 GB"},
                     "ssd": {"capacity": "2 TB", "read_bandwidth": "6 GB/s"}, "nic": "10 Gbps", "pcie": "25 GB/s"}],
    },
    "models": {"deployments": [{"model": "opt-6.7b", "count": 12, "max_batch_size": 8}]},
    "workload": {"kind": "synthetic", "requests": 150, "rps": 1.0, "cv": 4, "popularity": "uniform",
                 "lengths": "gsm8k"},
    "policy": {"name": "serverlessllm", "keep_alive": {"name": "fixed", "timeout": "30 s"}},
    "simulation": {"seed": 1},
    "output": {"timing": False},
}


def small(policy=None, keep_alive=None, requests=None):
    """A copy of SMALL with the scheduling policy, the keep-alive section or the request count replaced."""
    config = copy.deepcopy(SMALL)
    if policy is not None:
        config["policy"]["name"] = policy
    if keep_alive is not None:
        config["policy"]["keep_alive"] = keep_alive
    if requests is not None:
        config["workload"]["requests"] = requests
    return config


def conserved(requests_summary):
    r = requests_summary
    return r["arrived"] == r["completed"] + r["timed_out"] + r["rejected"] + r["running"]


@pytest.fixture(scope="session")
def cli():
    """The sllmsim executable of the same build."""
    path = os.environ.get("SLLMSIM_BINARY")
    if not path:
        pytest.skip("SLLMSIM_BINARY is not set (ctest sets it)")
    return path


def run_cli(cli, *args):
    done = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
