"""Evaluations as Ray tasks: pure workers that stream their progress and never touch a database.

One Ray task trains one architecture on one task with one seed (``evaluate`` on a
one-task list). It is a streaming generator: it yields each intermediate evaluation as
``("report", Report)`` and ends with ``("result", Metrics dict)`` or ``("error", message)``
for an exception. The driver cancels a task with ``ray.cancel(force=True)``, which kills
its worker process at once and frees its CPUs/GPUs.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import queue
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.errors import UserError

if TYPE_CHECKING:
    from nas.study._config import Execution

Evaluator = Callable[
    ..., Any
]  # evaluate's signature: (arch, tasks, budget, seed, *, ...) -> Metrics


def resolve_evaluator(evaluator: str | Evaluator) -> Evaluator:
    """The evaluator for an import path ``module:function`` (or a callable, returned as is)."""
    if callable(evaluator):
        return evaluator
    module_name, _, name = evaluator.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserError(f"evaluator {evaluator!r}: cannot import {module_name}: {error}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise UserError(f"evaluator {evaluator!r}: {module_name} has no function {name}")
    return function


@dataclass
class RayRuntime:
    """The Ray runtime a study runs on; ``owned`` when this process started it."""

    owned: bool
    address: str

    def shutdown(self) -> None:
        import ray

        if self.owned and ray.is_initialized():
            ray.shutdown()


def start_ray(execution: Execution) -> RayRuntime:
    """Join ``execution.ray_address``, or start a local Ray sized for the study's workers.

    A Ray runtime already initialised in this process is reused as it is. The local one
    runs no dashboard and binds random free ports (Ray's default 6379 is often taken).
    """
    import ray

    if ray.is_initialized():
        return RayRuntime(owned=False, address=ray.get_runtime_context().gcs_address)
    # Ray warns that token authentication is on (joining a cluster that has a token, or
    # starting one): the secure default, which the user can do nothing about here.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR
    )
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
        "namespace": "nas",
    }
    if execution.ray_address:
        _check_reachable(execution.ray_address)
        _send_token_if_any()
        try:
            ray.init(address=execution.ray_address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UserError(
                f"cannot join the Ray cluster at {execution.ray_address}: {error}"
            ) from None
    else:
        ray.init(
            num_cpus=max(1, math.ceil(execution.workers * execution.cpus_per_trial)),
            num_gpus=math.ceil(execution.workers * execution.gpus_per_trial),
            _temp_dir=os.environ.get("NAS_RAY_TMPDIR") or tempfile.gettempdir() + "/nas-ray",
            **options,
        )
    _messages_to_file()
    return RayRuntime(owned=True, address=ray.get_runtime_context().gcs_address)


def _messages_to_file() -> None:
    """Send what Ray's raylets publish to the driver ("A worker died ...", log tails) to a
    file, and name the file in one line on stderr when the first message comes.

    A killed or cancelled worker is routine here (multi-fidelity cancels them, retries
    follow deaths), and the driver reports each outcome in its own words: Ray's own
    account belongs in a log, not between the progress lines and the front.
    """
    import ray._private.worker as ray_worker

    if getattr(ray_worker.print_to_stdstream, "nas_log", None):
        return  # routed already in this process
    node = getattr(ray_worker, "_global_node", None)
    try:
        folder = Path(node.get_logs_dir_path())  # type: ignore[union-attr]
    except (AttributeError, TypeError):
        folder = Path(tempfile.gettempdir()) / "nas-ray"
    path = folder / f"nas-driver-{os.getpid()}-ray-messages.log"
    lock, told = threading.Lock(), []

    def to_file(data: dict[str, Any], ignore_prefix: bool = False) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as log:
                for line in data.get("lines", []):
                    log.write(f"{stamp} ({data.get('pid', 'ray')}) {line}\n")
            if not told:
                told.append(True)
                print(f"Ray's worker and raylet messages: {path}", file=sys.stderr, flush=True)

    to_file.nas_log = path  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = to_file


def _check_reachable(address: str) -> None:
    """Fail at once when nothing listens at a ``host:port`` address (``ray.init`` would keep
    retrying for minutes); other forms (``auto``, ``ray://...``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in address:
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as error:
        raise UserError(
            f"cannot join the Ray cluster at {address}: {error.strerror or error}. Start it with "
            "`ray start --head --port=PORT` (Redis may hold Ray's default 6379), or leave "
            "--ray-address out to start Ray locally"
        ) from None


def _send_token_if_any() -> None:
    """Send this machine's Ray token when joining a cluster, unless RAY_AUTH_MODE says otherwise.

    ``ray start --head`` turns token authentication on by default, but ``ray.init(address=...)``
    sends the token (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``)
    only in token mode; Ray's own helper switches this process to it when a token exists.
    """
    from ray._private.authentication.authentication_token_setup import (
        maybe_enable_token_auth_if_token_available,
    )

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _stream(
    evaluator: str | Evaluator,
    arch_json: str,
    task: str,
    budget: dict[str, Any],
    seed: int,
    device: str,
    backend: str,
    num_threads: int,
    reports: bool,
) -> Iterator[tuple[str, Any]]:
    """The body of the Ray task (see the module docstring); without ``reports`` it yields the
    result alone (a study without multi-fidelity has no use for intermediate evaluations)."""
    from nas.arch import ArchSpec
    from nas.proxy import Budget

    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def run() -> None:
        try:
            function = resolve_evaluator(evaluator)
            metrics = function(
                ArchSpec.from_json(arch_json),
                [task],
                Budget.from_dict(budget),
                seed,
                device=device,
                backend=backend,
                on_report=(lambda report: events.put(("report", report))) if reports else None,
                num_threads=num_threads,
            )
            events.put(("result", metrics.to_dict()))
        except BaseException as error:  # reported to the driver, which fails the trial
            frames = traceback.extract_tb(error.__traceback__)
            where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
            events.put(("error", f"{type(error).__name__}: {error}{where}"))

    if not reports:
        run()
        yield events.get()
        return
    # evaluate runs in a thread so that its reports can be yielded while it trains
    threading.Thread(target=run, daemon=True).start()
    while True:
        kind, payload = events.get()
        yield kind, payload
        if kind != "report":
            return


_remote_stream = None


def submit(
    evaluator: str | Evaluator,
    arch_json: str,
    task: str,
    budget: dict[str, Any],
    seed: int,
    execution: Execution,
    *,
    reports: bool,
) -> Any:
    """Start one evaluation as a Ray streaming task; returns its ObjectRefGenerator.

    ``reports``: stream the intermediate evaluations too (multi-fidelity needs them)."""
    global _remote_stream
    import ray

    if _remote_stream is None:
        _remote_stream = ray.remote(num_returns="streaming", max_retries=0)(_stream)
    return _remote_stream.options(
        num_cpus=execution.cpus_per_trial, num_gpus=execution.gpus_per_trial
    ).remote(
        evaluator,
        arch_json,
        task,
        budget,
        seed,
        execution.resolved_device,
        execution.backend,
        max(1, int(execution.cpus_per_trial)),
        reports,
    )


def cancel(generator: Any) -> None:
    """Stop an evaluation now: its worker process is killed and its resources freed."""
    import ray

    ray.cancel(generator, force=True)
