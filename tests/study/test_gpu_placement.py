"""GPU placement on Ray without a GPU: a local Ray node that declares GPUs (as ``start_ray``
sizes it from ``execution.gpus_per_trial``) hands each trial its share, and the trial sees it.

Ray does not check that a declared GPU exists: it schedules by the resource count and sets
CUDA_VISIBLE_DEVICES to the ids it assigned, which is all a trial on a real GPU relies on.
Each case runs in a fresh process: the test process may already have joined another cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

EVALUATOR = textwrap.dedent(
    """
    import json, os, time
    from pathlib import Path

    import ray

    from nas.study.bench import zero_cost_evaluate


    def where(arch, tasks, budget, seed, **kwargs):
        started = time.time()
        time.sleep(1.5)  # long enough for the runs that may overlap to overlap
        seen = {
            "seed": seed,
            "device": kwargs["device"],
            "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
            "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "start": started,
            "end": time.time(),
        }
        Path(os.environ["PLACEMENT_OUT"], f"{seed}.json").write_text(json.dumps(seen))
        return zero_cost_evaluate(arch, tasks, budget, seed, **kwargs)
    """
)

DRIVER = textwrap.dedent(
    """
    import json, sys

    import ray

    from nas.arch import ArchSpec
    from nas.proxy import Budget
    from nas.study import Execution
    from nas.study._execution import start_ray, submit

    workers, gpus = int(sys.argv[1]), float(sys.argv[2])
    execution = Execution(workers=workers, cpus_per_trial=1, gpus_per_trial=gpus,
                          evaluator="placement_evaluator:where")
    runtime = start_ray(execution)
    arch = ArchSpec.parse("MA", d_model=32, vocab_size=64).to_json()
    runs = [submit(execution.evaluator, arch, "mqar:num_kv_pairs=2,seq_len=16", Budget(steps=1)
                   .to_dict(), seed, execution, reports=False) for seed in range(3)]
    kinds = [ray.get(next(run))[0] for run in runs]
    print(json.dumps({"kinds": kinds, "gpus": ray.cluster_resources().get("GPU", 0)}))
    runtime.shutdown()
    """
)


def place(tmp_path: Path, workers: int, gpus_per_trial: float) -> tuple[dict, list[dict]]:
    ray_temp = tempfile.mkdtemp(prefix="nas-gpu-")
    try:
        return _place(tmp_path, workers, gpus_per_trial, ray_temp)
    finally:
        shutil.rmtree(ray_temp, ignore_errors=True)


def _place(
    tmp_path: Path, workers: int, gpus_per_trial: float, ray_temp: str
) -> tuple[dict, list[dict]]:
    (tmp_path / "placement_evaluator.py").write_text(EVALUATOR)
    out = tmp_path / "seen"
    out.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(tmp_path), str(REPO), os.environ.get("PYTHONPATH")])
        ),
        "PLACEMENT_OUT": str(out),
        "NAS_RAY_TMPDIR": ray_temp,  # short: Ray's socket paths must fit in 107 bytes
    }
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(workers), str(gpus_per_trial)],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return summary, [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


def overlapping(runs: list[dict]) -> int:
    """The most runs that were in progress at one moment."""
    return max(sum(r["start"] <= s["start"] < r["end"] for r in runs) for s in runs)


@pytest.mark.ray
@pytest.mark.slow
def test_whole_gpus_go_to_one_trial_each(tmp_path: Path) -> None:
    """2 workers x 1 GPU: the node declares 2 GPUs; two trials run at once, on different
    GPUs, each seeing only its own; the third waits for a free one."""
    summary, runs = place(tmp_path, workers=2, gpus_per_trial=1)
    assert summary == {"kinds": ["result"] * 3, "gpus": 2.0}
    assert len(runs) == 3 and {r["device"] for r in runs} == {"cuda"}  # auto: cuda with GPUs
    for run in runs:
        assert len(run["gpu_ids"]) == 1 and run["visible"] == run["gpu_ids"][0]
    assert overlapping(runs) == 2
    first, second = sorted(runs, key=lambda r: r["start"])[:2]
    assert first["gpu_ids"] != second["gpu_ids"]


@pytest.mark.ray
@pytest.mark.slow
def test_fractional_gpus_share_one_device(tmp_path: Path) -> None:
    """2 workers x 0.5 GPU: the node declares 1 GPU, which two trials share."""
    summary, runs = place(tmp_path, workers=2, gpus_per_trial=0.5)
    assert summary == {"kinds": ["result"] * 3, "gpus": 1.0}
    assert all(r["gpu_ids"] == ["0"] and r["visible"] == "0" for r in runs)
    assert overlapping(runs) == 2
