"""The stock optuna CLI and optuna-dashboard read a database written through nas's schemas."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nas.db import Database

pytestmark = pytest.mark.slow


def _optuna(*args: str) -> str:
    optuna = Path(sys.executable).with_name("optuna")
    done = subprocess.run(
        [str(optuna), *args], check=True, capture_output=True, text=True, timeout=120
    )
    return done.stdout


def test_optuna_cli_lists_studies_and_trials(synthetic_url: str, n_trials: dict[str, int]) -> None:
    studies = json.loads(_optuna("studies", "--storage", synthetic_url, "-f", "json"))
    assert {s["name"]: s["n_trials"] for s in studies} == n_trials
    trials = json.loads(
        _optuna("trials", "--study-name", "beta", "--storage", synthetic_url, "-f", "json")
    )
    assert len(trials) == n_trials["beta"]
    assert {"arch_hash", "evaluation_ids", "fidelity"} <= set(trials[0]["user_attrs"])


def test_optuna_best_trials_is_our_pareto_front(synthetic_url: str) -> None:
    best = json.loads(
        _optuna("best-trials", "--study-name", "alpha", "--storage", synthetic_url, "-f", "json")
    )
    ours = Database(synthetic_url).pareto("alpha", columns=["capability"], by_architecture=False)
    assert sorted(t["number"] for t in best) == sorted(ours["number"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) is None,
                    reason="optuna-dashboard is not installed (pip install optuna-dashboard)")  # fmt: skip
def test_optuna_dashboard_serves_the_database(synthetic_url: str, n_trials: dict[str, int]) -> None:
    port = _free_port()
    dashboard = Path(sys.executable).with_name("optuna-dashboard")
    server = subprocess.Popen(
        [str(dashboard), synthetic_url, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline, payload = time.monotonic() + 60, None
        while time.monotonic() < deadline and payload is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/studies", timeout=5
                ) as reply:
                    payload = json.load(reply)
            except OSError:
                assert server.poll() is None, "optuna-dashboard exited"
                time.sleep(0.5)
        assert payload is not None, "optuna-dashboard did not answer within 60 s"
        summaries = {s["study_name"]: s["study_id"] for s in payload["study_summaries"]}
        assert set(summaries) == {"alpha", "beta"}
        url = f"http://127.0.0.1:{port}/api/studies/{summaries['beta']}"
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert len(json.load(reply)["trials"]) == n_trials["beta"]
    finally:
        server.terminate()
        server.wait(timeout=10)
