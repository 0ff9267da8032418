"""The shared output machinery: --format on every ``nas db`` command, and tables in a pipe."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from rich.table import Table

from nas.cli import main
from nas.cli._output import cell, print_table
from nas.db.synthetic import write_synthetic

FORMATS = ("table", "csv", "json", "markdown")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("output") / "db.sqlite"
    write_synthetic(f"sqlite:///{path}", n_trials=60, study_name="alpha", seed=3)
    write_synthetic(f"sqlite:///{path}", n_trials=40, study_name="beta", seed=4)
    return f"sqlite:///{path}"


COMMANDS = {
    "studies": [],
    "trials": ["alpha", "--limit", "5"],
    "pareto": ["alpha"],
    "show": ["alpha", "0"],
    "compare": ["alpha", "beta"],
    "columns": ["alpha"],
    "sql": ["select number, state from trials order by number limit 3"],
}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_db_command_speaks_every_format(capsys, url: str, command: str, fmt: str) -> None:
    out = _run(capsys, "db", command, *COMMANDS[command], "--storage", url, "--format", fmt)
    if fmt == "json":
        parsed = json.loads(out)
        assert parsed and isinstance(parsed, list | dict)
    elif fmt == "csv":
        frame = pd.read_csv(io.StringIO(out))
        assert len(frame) > 0 and len(frame.columns) > 1
    elif fmt == "markdown":
        tables = [block.splitlines() for block in out.split("\n\n") if block.startswith("|")]
        for lines in tables:  # (show prints three: the trial, its evaluations, its curves)
            assert len(lines) >= 3 and set(lines[1]) <= set("|:- ")  # header, rule, rows
            assert len({line.count("|") for line in lines}) == 1  # every row has every cell
        assert tables
    else:
        assert "┃" in out or "│" in out


def test_csv_and_json_carry_raw_values_markdown_the_table_cells(capsys, url: str) -> None:
    base = ["db", "pareto", "alpha", "--storage", url, "--columns", "state_bytes,params"]
    rows = json.loads(_run(capsys, *base, "--format", "json"))
    frame = pd.read_csv(io.StringIO(_run(capsys, *base, "--format", "csv")))
    assert [r["state_bytes"] for r in rows] == frame["state_bytes"].tolist()
    assert all(isinstance(r["state_bytes"], int) for r in rows)
    markdown = _run(capsys, *base, "--format", "markdown")
    assert cell("state_bytes", rows[0]["state_bytes"]) in markdown  # e.g. "4.01 MiB"


def test_a_piped_table_keeps_headers_and_numbers_whole(capsys, monkeypatch, url: str) -> None:
    """rich lays out a pipe 80 wide; a table there is as wide as it needs instead."""
    monkeypatch.delenv("COLUMNS", raising=False)
    out = _run(capsys, "db", "pareto", "alpha", "--storage", url)
    header = next(line for line in out.splitlines() if "number" in line)
    for name in ("train_flops_per_token", "state_bytes", "capability", "cap.byte_lm"):
        assert name in header
    assert max(map(len, out.splitlines())) > 80
    table = Table(title="front")
    for name in ("trial", "capability ↑", "train_flops_per_token ↓", "state_bytes ↓"):
        table.add_column(name, justify="right")
    table.add_row("7", "0.451", "1.33M", "4.01 MiB")
    print_table(table)
    out = capsys.readouterr().out
    assert "train_flops_per_token ↓" in out and "4.01 MiB" in out


def test_out_and_parquet_need_each_other(capsys, url: str, tmp_path) -> None:
    target = tmp_path / "front.parquet"
    assert main(["db", "pareto", "alpha", "--storage", url, "--format", "parquet",
                 "--out", str(target)]) == 0  # fmt: skip
    assert len(pd.read_parquet(target)) > 0
    assert main(["db", "pareto", "alpha", "--storage", url, "--out", str(target)]) == 2
    assert "--format csv, json or parquet" in capsys.readouterr().err
