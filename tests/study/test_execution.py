"""What joining a Ray cluster prints: nothing of Ray's own, and one line naming its log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import ray
    from nas.study import Execution
    from nas.study._execution import start_ray

    start_ray(Execution(ray_address=sys.argv[1]))

    @ray.remote(max_retries=0)
    def die():
        os._exit(1)  # a worker death, as a SIGKILL or a cancel would leave

    try:
        ray.get(die.remote())
    except ray.exceptions.WorkerCrashedError:
        print("the driver saw the death")
    import time
    log = ray._private.worker.print_to_stdstream.nas_log
    deadline = time.monotonic() + 30
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the raylet's account arrives on its own thread
    time.sleep(0.5)
    print("done")
    """
)


def test_joining_a_cluster_keeps_rays_chatter_in_a_log(ray_cluster: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, ray_cluster],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["the driver saw the death", "done"]
    assert "Token authentication" not in done.stderr
    assert "worker died" not in done.stderr.lower() and "(raylet)" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("Ray's worker and raylet messages: ")
    log = Path(line.split(": ", 1)[1])
    assert "A worker died or was killed" in log.read_text()
