"""``nas db ...`` end to end (in process), including the bad inputs that must exit 2."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from nas.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_studies_table(capsys, synthetic_url: str) -> None:
    code, out, _ = run(capsys, "db", "studies", "--storage", synthetic_url)
    assert code == 0 and "alpha" in out and "beta" in out and "maximize capability" in out


def test_trials_sort_with_a_leading_minus_and_limit(capsys, synthetic_url: str) -> None:
    code, out, _ = run(capsys, "db", "trials", "alpha", "--storage", synthetic_url,
                       "--sort", "-capability", "--limit", "3", "--format", "json")  # fmt: skip
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 3
    assert [r["capability"] for r in rows] == sorted((r["capability"] for r in rows), reverse=True)
    assert "layout" in rows[0] and "cap.byte_lm" in rows[0]  # json carries every column


def test_trials_where_and_columns_as_csv(capsys, synthetic_url: str) -> None:
    code, out, _ = run(capsys, "db", "trials", "alpha", "--storage", synthetic_url, "--where",
                       "family == 'ssm' and d_state >= 32", "--columns", "family,d_state", "--format", "csv")  # fmt: skip
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "number,family,d_state"
    assert all(line.split(",")[1] == "ssm" and int(line.split(",")[2]) >= 32 for line in lines[1:])


def test_pareto_table_and_custom_objectives(capsys, synthetic_url: str) -> None:
    code, out, _ = run(capsys, "db", "pareto", "alpha", "--storage", synthetic_url)
    assert code == 0 and "Pareto front of alpha" in out
    code, out, _ = run(capsys, "db", "pareto", "alpha", "--storage", synthetic_url,
                       "--objective", "capability:max", "--objective", "state_bytes:min", "--format", "json")  # fmt: skip
    assert code == 0 and all("state_bytes" in row for row in json.loads(out))


def test_show_arch_compare_columns(capsys, synthetic_url: str) -> None:
    code, out, _ = run(capsys, "db", "show", "alpha", "0", "--storage", synthetic_url)
    assert code == 0 and "learning curves" in out and "evaluations" in out
    code, out, _ = run(
        capsys, "db", "show", "alpha", "0", "--storage", synthetic_url, "--format", "json"
    )
    arch_hash = json.loads(out)["trial"]["arch_hash"]
    code, out, _ = run(capsys, "db", "arch", arch_hash[:8], "--storage", synthetic_url)
    assert code == 0 and arch_hash in out and "alpha#0" in out
    code, out, _ = run(capsys, "db", "compare", "alpha", "beta", "--storage", synthetic_url)
    assert code == 0 and "on its front" in out
    code, out, _ = run(
        capsys, "db", "columns", "alpha", "--storage", synthetic_url, "--format", "csv"
    )
    described = pd.read_csv(io.StringIO(out)).set_index("column")
    assert code == 0 and "gap.mqar:filler=2" in described.index
    assert described.loc["d_state", "type"] == "integer"
    assert described.loc["capability", "type"] == "number"
    assert described.loc["layout", "type"] == "text"
    assert described.loc["evaluation_ids", "type"] == "list"
    assert "maximized" in described.loc["capability", "meaning"]
    assert "filler" in described.loc["gap.mqar:filler=2", "meaning"]
    assert described["meaning"].notna().all()


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_export_round_trips(
    capsys, synthetic_url: str, tmp_path: Path, suffix: str, n_trials
) -> None:
    target = tmp_path / f"alpha{suffix}"
    code, _, err = run(
        capsys, "db", "export", "alpha", "--storage", synthetic_url, "--out", str(target)
    )
    assert code == 0 and f"wrote {n_trials['alpha']} trials" in err
    frame = {".csv": pd.read_csv, ".json": pd.read_json, ".parquet": pd.read_parquet}[suffix](
        target
    )
    assert len(frame) == n_trials["alpha"] and "cap.mqar:filler=2" in frame.columns


def test_sql_command(capsys, synthetic_url: str) -> None:
    code, out, _ = run(capsys, "db", "sql", "SELECT COUNT(*) AS n FROM trials", "--storage", synthetic_url,
                       "--format", "csv")  # fmt: skip
    assert code == 0 and out.split() == ["n", "420"]


def test_delete_asks_then_deletes(capsys, copy_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run(capsys, "db", "delete", "beta", "--storage", copy_url)
    assert code == 2 and "without confirmation: add --yes" in err
    code, out, _ = run(capsys, "db", "delete", "beta", "--storage", copy_url, "--yes")
    assert code == 0 and "deleted study 'beta' (120 trials)" in out
    code, out, _ = run(capsys, "db", "studies", "--storage", copy_url, "--format", "csv")
    assert "beta" not in out and "alpha" in out
    code, out, _ = run(
        capsys,
        "db",
        "sql",
        "SELECT COUNT(*) AS n FROM trials",
        "--storage",
        copy_url,
        "--format",
        "csv",
    )
    assert out.split() == ["n", "300"]


# -- bad input: exit 2, one clear line, database untouched ----------------------------------
def test_unknown_study(capsys, synthetic_url: str, synthetic_path: Path, digest) -> None:
    before = digest(synthetic_path)
    code, out, err = run(capsys, "db", "trials", "alpah", "--storage", synthetic_url)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"error: no study named 'alpah' in {synthetic_url}: did you mean 'alpha'? studies: alpha, beta"
    ]
    assert digest(synthetic_path) == before


def test_missing_database_file_is_not_created(capsys, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "study.db"
    commands = (["db", "studies"], ["db", "trials", "x"], ["db", "pareto", "x"], ["db", "upgrade"],
                ["report", "x"])  # fmt: skip
    for argv in commands:
        code, _, err = run(capsys, *argv, "--storage", f"sqlite:///{missing}")
        assert code == 2 and len(err.strip().splitlines()) == 1 and "no database at" in err
    assert not missing.exists() and not missing.parent.exists()


def test_malformed_where(capsys, synthetic_url: str, synthetic_path: Path, digest) -> None:
    before = digest(synthetic_path)
    code, _, err = run(
        capsys, "db", "trials", "alpha", "--storage", synthetic_url, "--where", "d_state >= and 3"
    )
    assert code == 2
    first, expression, caret = err.rstrip("\n").splitlines()
    assert (
        first
        == "invalid --where expression at column 12: expected a column name, a number or a 'string', found 'and'"
    )
    assert caret.index("^") - expression.index("d") == 11
    assert digest(synthetic_path) == before


def test_newer_schema_version_is_refused(capsys, copy_url: str, digest) -> None:
    path = Path(copy_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE nas_schema_version SET version = 99")
    before = digest(path)
    code, _, err = run(capsys, "db", "trials", "alpha", "--storage", copy_url)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "version 99, newer than this nas" in err and "upgrade the nas package" in err
    assert digest(path) == before


def test_an_older_schema_is_refused_until_upgraded(capsys, copy_url: str, digest) -> None:
    path = Path(copy_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE nas_schema_version SET version = 0")
    code, _, err = run(capsys, "db", "studies", "--storage", copy_url)
    assert code == 2 and "version 0, older than this nas" in err
    assert "nas db upgrade --storage URL" in err
    code, out, _ = run(capsys, "db", "upgrade", "--storage", copy_url)
    assert code == 0 and "upgraded the nas tables from version 0 to 1" in out
    assert run(capsys, "db", "studies", "--storage", copy_url)[0] == 0
    code, out, _ = run(capsys, "db", "upgrade", "--storage", copy_url)
    assert code == 0 and "at version 1 already" in out

    with sqlite3.connect(path) as conn:  # a newer toolkit's tables are left alone
        conn.execute("UPDATE nas_schema_version SET version = 99")
    before = digest(path)
    code, _, err = run(capsys, "db", "upgrade", "--storage", copy_url)
    assert code == 2 and "newer than this nas" in err and digest(path) == before


def test_sql_write_is_refused_and_database_untouched(
    capsys, synthetic_url: str, synthetic_path: Path, digest
) -> None:
    before = digest(synthetic_path)
    for statement in ("DELETE FROM trials", "ATTACH DATABASE 'x.db' AS x", "PRAGMA journal_mode=DELETE",
                      "SELECT 1; DROP TABLE trials"):  # fmt: skip
        code, _, err = run(capsys, "db", "sql", statement, "--storage", synthetic_url)
        assert code == 2 and len(err.strip().splitlines()) == 1, statement
    assert digest(synthetic_path) == before


def test_db_commands_do_not_import_torch_optuna_or_ray(synthetic_url: str) -> None:
    """Start-up time is the bulk of a `nas db` call: the heavy libraries stay out of it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from nas.cli import main\n"
        f"for argv in (['db', 'studies'], ['db', 'pareto', 'alpha'], ['db', 'trials', 'alpha', '--sort', '-capability', '--limit', '5']):\n"
        f"    assert main([*argv, '--storage', {synthetic_url!r}]) == 0\n"
        "heavy = sorted(m for m in ('torch', 'optuna', 'ray', 'matplotlib') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
