"""The examples pip users get: ``nas init`` and shipped spaces by name, then the real thing,
a wheel installed into a fresh virtual environment and used from an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nas.cli import main
from nas.examples import ROOT, shipped_space, shipped_spaces
from nas.study import load_study

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_examples_are_the_repositorys_files() -> None:
    """One copy: the package's folders resolve to the top-level ones (a source checkout)."""
    for name in ("search_spaces", "studies"):
        shipped = sorted(p.name for p in (ROOT / name).glob("*.yaml"))
        assert shipped == sorted(p.name for p in (REPO / name).glob("*.yaml")) and shipped
        assert (ROOT / name).resolve() == (REPO / name).resolve()


def test_init_writes_a_project_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    target = tmp_path / "project"
    assert main(["init", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"next: cd {target} && nas run studies/quickstart.yaml" in out
    assert sorted(p.stem for p in (target / "search_spaces").glob("*.yaml")) == sorted(
        shipped_spaces()
    )
    config = load_study(target / "studies" / "quickstart.yaml")
    assert config.space.path.resolve() == (target / "search_spaces" / "quickstart.yaml").resolve()
    (target / "studies" / "quickstart.yaml").write_text("# mine\n")
    assert main(["init", str(target)]) == 2
    assert "already exist" in capsys.readouterr().err
    assert (target / "studies" / "quickstart.yaml").read_text() == "# mine\n"  # untouched


def test_a_study_alone_names_a_shipped_space(tmp_path: Path) -> None:
    text = (REPO / "studies" / "quickstart.yaml").read_text()
    lone = tmp_path / "mine.yaml"
    lone.write_text(text.replace("space: ../search_spaces/quickstart.yaml", "space: quickstart"))
    assert load_study(lone).space.path == shipped_space("quickstart")
    lone.write_text(text.replace("space: ../search_spaces/quickstart.yaml", "space: quickstrat"))
    assert main(["run", str(lone)]) == 2


def test_a_missing_space_names_the_shipped_ones(tmp_path: Path, capsys) -> None:
    lone = tmp_path / "mine.yaml"
    lone.write_text((REPO / "studies" / "quickstart.yaml").read_text())  # ../search_spaces: absent
    assert main(["run", str(lone)]) == 2
    err = capsys.readouterr().err
    assert "mine.yaml:" in err and "nor a shipped space of that name (base, hybrid_ratio" in err


@pytest.mark.slow
def test_the_wheel_brings_the_examples_to_a_pip_user(tmp_path: Path) -> None:
    """Build the wheel, install it into a fresh venv that reuses this one's packages, and
    follow the README's pip path from an empty folder outside the repository."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = wheels.glob("nas_hybrid-*.whl")
    venv = tmp_path / "venv"
    # The fresh venv sees this one's site-packages (torch, ray, ...) through a .pth file,
    # after its own: the wheel it installs shadows the editable checkout.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    ours = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "zz_reuse.pth").write_text("\n".join(ours) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         "--disable-pip-version-check", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NAS_STORAGE")}
    nas = venv / "bin" / "nas"

    def run(*argv: str) -> str:
        done = subprocess.run([str(nas), *argv], cwd=empty, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    where = subprocess.run([str(python), "-c", "import nas; print(nas.__file__)"], cwd=empty,
                           env=env, check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert where.startswith(str(venv)), where  # the wheel, not the checkout
    assert "next: cd my-study && nas run studies/quickstart.yaml" in run("init", "my-study")
    project = empty / "my-study"
    assert not (project / "search_spaces").is_symlink()
    out = run("space", "validate", *map(str, sorted((project / "search_spaces").glob("*.yaml"))))
    assert out.count("OK") == 5
    check = textwrap.dedent(
        """
        import sys
        from nas.study import load_study
        for path in sys.argv[1:]:
            config = load_study(path)
            print(config.name, config.space.path.name, config.space.discrete_size)
        """
    )
    studies = sorted((project / "studies").glob("*.yaml"))
    done = subprocess.run([str(python), "-c", check, *map(str, studies)], cwd=empty, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3 and "quickstart quickstart.yaml" in done.stdout
    (empty / "alone.yaml").write_text(
        (project / "studies" / "quickstart.yaml")
        .read_text()
        .replace("space: ../search_spaces/quickstart.yaml", "space: quickstart")
    )
    done = subprocess.run([str(python), "-c", check, "alone.yaml"], cwd=empty, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0 and "quickstart quickstart.yaml" in done.stdout, done.stderr
