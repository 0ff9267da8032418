"""``nas space ...`` and ``nas arch show`` through nas.cli.main: exit codes and output."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from nas.arch import ArchSpec
from nas.cli import main
from nas.compute import estimate, param_count
from nas.space import load_space

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"
QUICKSTART = str(SPACES / "quickstart.yaml")


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # tables keep whole hashes and layouts


def test_validate_all_examples(capsys):
    files = sorted(str(p) for p in SPACES.glob("*.yaml"))
    assert main(["space", "validate", *files]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert [line.split()[:2] for line in out.splitlines()] == [["OK", f] for f in files]
    assert "quickstart: 2 searched parameters, 12 grid points, 1 constraint)" in out


def test_validate_reports_every_problem_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text('layout:\n  n_layers: 4\n  ratio: "3:1"\n  placment: end\nssm:\n  d_state: []\n')
    assert main(["space", "validate", str(bad), QUICKSTART]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{bad}:4:3: layout.placment: unknown key (did you mean 'placement'?)",
        f"{bad}:6:12: ssm.d_state: empty choice: give at least one value",
        "1 of 2 files have problems",
    ]
    assert out.startswith(f"OK {QUICKSTART}")
    assert "Traceback" not in err


def test_validate_rejects_a_space_with_nothing_feasible(tmp_path, capsys):
    path = tmp_path / "tight.yaml"
    path.write_text('layout: {n_layers: 4, ratio: "3:1"}\nconstraints: [params <= 1K]\n')
    assert main(["space", "validate", str(path)]) == 2
    assert "random architectures are feasible" in capsys.readouterr().err


def test_validate_yaml_syntax_error(tmp_path, capsys):
    path = tmp_path / "syntax.yaml"
    path.write_text("layout:\n  n_layers: [4, 6\n  ratio: 1\n")
    assert main(["space", "validate", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"{path}:3:8: YAML syntax error: ")


def test_show(capsys):
    assert main(["space", "show", QUICKSTART]) == 0
    out = capsys.readouterr().out
    assert "quickstart" in out
    assert "choice 1:0, 3:1, 1:1, 0:1" in out and "layout has M" in out
    assert "discrete part: 12 grid points (GridSampler)" in out
    assert "distinct feasible architectures: 10" in out
    for layout in ("MFMFMFMF", "MFMFMFAF", "MFAFMFAF", "AFAFAFAF"):
        assert f"  {layout}" in out
    assert "params <= 1M" in out


def test_show_infinite_space(capsys):
    assert main(["space", "show", str(SPACES / "state_size.yaml")]) == 0
    out = capsys.readouterr().out
    assert "continuous: ssm.dt_max" in out
    assert "int 4..256 log" in out
    assert "distinct feasible" not in out


def test_sample_json(capsys):
    assert main(["space", "sample", QUICKSTART, "-n", "3", "--seed", "5", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    space = load_space(QUICKSTART)
    expected = space.sample(3, seed=5)
    assert [r["arch_hash"] for r in records] == [a.arch_hash for a in expected]
    for record, arch in zip(records, expected, strict=True):
        assert ArchSpec.from_dict(record["arch"]) == arch
        assert record["compute"] == estimate(arch).to_dict()


def test_sample_table_and_figure_flags(capsys):
    assert (
        main(["space", "sample", QUICKSTART, "-n", "2", "--seq-len", "256", "--context", "512"])
        == 0
    )
    out = capsys.readouterr().out
    for arch in load_space(QUICKSTART).sample(2, seed=0):
        assert arch.arch_hash in out and arch.layout in out
    assert "seq_len 256" in out and "context 512" in out


def test_grid_json_counts_distinct_architectures(capsys):
    assert main(["space", "grid", QUICKSTART, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 10 == len({r["arch_hash"] for r in records})


def test_grid_table(capsys):
    assert main(["space", "grid", str(SPACES / "hybrid_ratio.yaml")]) == 0
    out = capsys.readouterr().out
    assert "36 distinct feasible architectures (72 grid points)" in out


def test_grid_of_infinite_space_is_a_user_error(capsys):
    assert main(["space", "grid", str(SPACES / "state_size.yaml")]) == 2
    err = capsys.readouterr().err
    assert "ssm.dt_max: the space is not finite" in err and "Traceback" not in err


def test_missing_file_is_a_user_error(tmp_path, capsys):
    assert main(["space", "show", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml: no such file" in capsys.readouterr().err


def test_arch_show_pattern_with_flags(capsys):
    assert (
        main(["arch", "show", "(MMMA)x2", "--d-model", "32", "--d-state", "8", "--n-kv-heads", "2"])
        == 0
    )
    out = capsys.readouterr().out
    arch = ArchSpec.parse("(MMMA)x2", d_model=32)
    arch = replace(
        arch, ssm=replace(arch.ssm, d_state=8), attention=replace(arch.attention, n_kv_heads=2)
    )
    assert arch.arch_hash in out and "MMMAMMMA" in out
    assert f"{param_count(arch):,}" in out
    assert "state_bytes" in out and "train_flops_per_token" in out


def test_arch_show_json_input_and_output(tmp_path, capsys):
    arch = ArchSpec.parse("M-M*-", d_model=48, vocab_size=100)
    assert main(["arch", "show", arch.to_json(), "--json", "--context", "100"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["arch_hash"] == arch.arch_hash
    assert record["compute"] == estimate(arch, context=100).to_dict()
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json())
    assert main(["arch", "show", str(path), "--json", "--ssm-kind", "mamba1"]) == 0
    changed = ArchSpec.from_dict(json.loads(capsys.readouterr().out)["arch"])
    assert changed.ssm.kind == "mamba1" and changed.layout == arch.layout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["MQA"], "MQA: unexpected 'Q'"),
        (["MMMM", "--n-heads", "4"], "--n-heads: the layout has no attention (A) blocks"),
        (["MA", "--d-model", "30"], "MA: ssm.headdim (16) must divide"),
        (['{"layout": "MA", "depth": 2}'], "unknown ArchSpec keys: depth"),
        (["{not json"], "{not json: "),
    ],
)
def test_arch_show_errors(argv, message, capsys):
    assert main(["arch", "show", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
