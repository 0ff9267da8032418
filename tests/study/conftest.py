"""One real Ray cluster for the study tests: ``ray start --head`` on loopback with free ports
(Redis holds Ray's default 6379), joined by this process and by the drivers the tests start.

Its workers import ``study_evaluators`` (this folder is on their PYTHONPATH) and write
markers to the folder of the ``markers`` fixture. The cluster is stopped by killing the
process group that ``ray start --block`` leads, never with ``ray stop`` (which would stop
every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nas.study import Execution
from nas.study._execution import start_ray

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))  # study_evaluators, for the driver side of in-process runs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_range(size: int, taken: set[int]) -> int:
    """The first port of ``size`` free consecutive ports, none of them in ``taken``.

    Drawn below Linux's ephemeral range (32768 and up), where ``free_port`` draws Ray's other
    ports: Ray refuses a worker port range that overlaps any of them.
    """
    for _ in range(200):
        first = random.randrange(20_000, 32_000 - size)
        ports = range(first, first + size)
        if taken.isdisjoint(ports) and all(_bindable(port) for port in ports):
            return first
    raise RuntimeError(f"no {size} free consecutive ports between 20000 and 32000")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="session")
def markers_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="nas-study-markers-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster(markers_root: Path) -> Iterator[str]:
    """The address of a 2-CPU Ray head on 127.0.0.1, joined by this test process."""
    import ray

    temp = Path(tempfile.mkdtemp(prefix="nas-ray-"))
    names = ["port", "ray-client-server-port", "dashboard-agent-listen-port",
             "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port",
             "node-manager-port", "object-manager-port"]  # fmt: skip
    ports: dict[str, int] = {}
    for name in names:
        while (number := free_port()) in ports.values():
            pass  # the system may hand a released port out again
        ports[name] = number
    workers = free_port_range(41, set(ports.values()))
    port = ports["port"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(HERE), str(REPO), os.environ.get("PYTHONPATH")])
        ),
        "NAS_TEST_MARKERS": str(markers_root),
    }
    command = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
        *(f"--{name}={number}" for name, number in ports.items()),
        "--node-ip-address=127.0.0.1", "--num-cpus=2", "--num-gpus=0",
        "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}",
        f"--min-worker-port={workers}", f"--max-worker-port={workers + 40}",
    ]  # fmt: skip
    log = (temp / "ray-start.log").open("wb")
    head = subprocess.Popen(command, env=env, start_new_session=True, stdout=log, stderr=log)
    address = f"127.0.0.1:{port}"
    os.environ["NAS_TEST_MARKERS"] = str(markers_root)
    try:
        _wait_for_port(port, head, temp / "ray-start.log")
        start_ray(Execution(ray_address=address))  # as `nas run --ray-address` joins
        yield address
    finally:
        ray.shutdown()
        head.terminate()  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, signal.SIGKILL)  # anything left in its process group
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_port(port: int, head: subprocess.Popen[bytes], log: Path, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start failed: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"ray start did not listen on port {port} within {limit} s")


@pytest.fixture
def markers(markers_root: Path) -> Path:
    """The workers' marker folder, emptied for this test."""
    for path in markers_root.iterdir():
        path.unlink()
    return markers_root
