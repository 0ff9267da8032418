"""The README's commands work as written: every fenced block marked cheap runs here.

A block is marked by the line ``<!-- cheap: tests/test_readme.py runs it -->`` right above
its fence. Its commands run with bash (a Python block with this interpreter) in a folder
laid out like a fresh clone after the quickstart: ``.venv``, ``search_spaces/`` and
``studies/`` of this checkout, and ``runs/quickstart.db`` from a quickstart run by workers
that do not train (the quickstart itself is the README's other command, not run here). A
server (optuna-dashboard) runs as written plus a free port, until it answers.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MARK = "<!-- cheap: tests/test_readme.py runs it -->"
SERVERS = ("optuna-dashboard",)  # commands that serve until stopped
pytestmark = [pytest.mark.slow, pytest.mark.ray]


def fenced_blocks(text: str) -> list[tuple[int, str, bool, str]]:
    """(line, language, marked cheap, body) of each fenced block of ``text``."""
    found, lines = [], text.splitlines()
    index = 0
    while index < len(lines):
        match = re.match(r"^```(\w*)\s*$", lines[index])
        if not match:
            index += 1
            continue
        end = lines.index("```", index + 1)
        before = next((line for line in reversed(lines[:index]) if line.strip()), "")
        body = "\n".join(lines[index + 1 : end])
        found.append((index + 1, match[1], before.strip() == MARK, body))
        index = end + 1
    return found


def commands(body: str) -> list[str]:
    """The commands of a bash block, one per line (a trailing backslash continues one)."""
    return [c.strip() for c in body.replace("\\\n", " ").splitlines() if c.strip()]


CHEAP = [(line, lang, body) for line, lang, marked, body in fenced_blocks(README.read_text())
         if marked]  # fmt: skip


def test_the_readme_marks_cheap_blocks() -> None:
    assert len(CHEAP) >= 3
    assert all(lang in ("bash", "python") for _, lang, _ in CHEAP)
    assert MARK not in (README.read_text().split("## Set up and run")[1].split("```")[0])


@pytest.fixture(scope="module")
def clone(zero_cost_quickstart: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that looks like a fresh clone once the quickstart has run."""
    if not (REPO / ".venv" / "bin" / "nas").exists():
        pytest.skip("the README's commands use .venv: run .ci/setup first")
    folder = tmp_path_factory.mktemp("clone")
    for name in (".venv", "search_spaces", "studies"):
        (folder / name).symlink_to(REPO / name)
    (folder / "runs").mkdir()
    shutil.copy(zero_cost_quickstart / "quickstart.db", folder / "runs" / "quickstart.db")
    return folder


@pytest.mark.parametrize("block", CHEAP, ids=[f"README.md:{line}" for line, _, _ in CHEAP])
def test_cheap_block_runs_as_written(block: tuple[int, str, str], clone: Path) -> None:
    line, lang, body = block
    env = {k: v for k, v in os.environ.items() if k not in ("NAS_STORAGE", "PYTHONPATH")}
    if lang == "python":
        done = subprocess.run([sys.executable, "-c", body], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, f"README.md:{line}: {done.stderr[-2000:]}"
        return
    for command in commands(body):
        if any(server in command.split("#")[0] for server in SERVERS):
            _serves(command, clone, env)
            continue
        done = subprocess.run(["bash", "-c", command], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, f"README.md:{line}: {command}\n{done.stderr[-2000:]}"


def _serves(command: str, clone: Path, env: dict[str, str]) -> None:
    """Run a server command as written (plus --port) until it answers HTTP, then stop it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    given = command.split("#")[0].strip()
    server = subprocess.Popen(["bash", "-c", f"exec {given} --host 127.0.0.1 --port {port}"],
                              cwd=clone, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, f"{command}: {server.communicate()[1][-2000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    assert b"quickstart" in r.read()
                    return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"{command}: no answer on port {port} within 60 s")
    finally:
        server.terminate()
        server.wait(timeout=30)
