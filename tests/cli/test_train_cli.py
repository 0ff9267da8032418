"""``nas train``: JSON and table output, --space sampling, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.cli import main
from nas.space import load_space
from nas.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "--d-model",
    "16",
    "--steps",
    "4",
    "--batch-size",
    "4",
    "--eval-batches",
    "1",
    "--threads",
    "1",
]
MQAR = "mqar:num_kv_pairs=2,seq_len=16"


def test_json_prints_the_metrics_only(capsys) -> None:
    code = main(
        ["train", "--arch", "MF", "--task", MQAR, "--task", "byte_lm:seq_len=16", *SMALL, "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["arch"]["layout"] == "MF" and out["arch"]["vocab_size"] == 256  # fits byte_lm
    metrics = out["metrics"]
    assert metrics["status"] == "ok" and metrics["budget"]["steps"] == 4
    assert set(metrics["tasks"]) == {get_task(MQAR).spec, get_task("byte_lm:seq_len=16").spec}
    byte_lm = metrics["tasks"][get_task("byte_lm:seq_len=16").spec]
    assert [point["step"] for point in byte_lm["curve"]] == [1, 2, 4]
    assert byte_lm["metrics"]["bpb"] > 0 and 0 <= byte_lm["capability"] <= 1


def test_tables_show_the_curve_the_final_metrics_and_measurements(capsys) -> None:
    code = main(["train", "--arch", "A", "--task", f"{MQAR},filler=1", *SMALL])
    out = capsys.readouterr().out
    assert code == 0
    assert "learning curve" in out and "clean counterpart" in out and "final metrics" in out
    assert (
        "filler_gap" in out and "training tokens/s" in out and "cpu backend" in out
    )  # auto on CPU: the C kernels


def test_space_sample(capsys) -> None:
    space = ROOT / "search_spaces" / "quickstart.yaml"
    code = main(
        [
            "train",
            "--space",
            str(space),
            "--sample-seed",
            "3",
            "--task",
            MQAR,
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--eval-batches",
            "1",
            "--threads",
            "1",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    expected = load_space(space, default_vocab_size=64).sample(1, 3)[0]
    assert code == 0 and out["metrics"]["arch_hash"] == expected.arch_hash


def test_divergence_exits_1_with_the_reason(capsys) -> None:
    code = main(["train", "--arch", "A", "--task", MQAR, *SMALL, "--lr", "1e4"])
    assert code == 1
    assert "diverged" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--arch", "A", "--task", "mqr", "--steps", "2"],
            "unknown task 'mqr' (did you mean 'mqar'?)",
        ),
        (["--arch", "AQ", "--task", MQAR, "--steps", "2"], "--arch AQ: unexpected 'Q'"),
        (
            ["--arch", "A", "--vocab-size", "16", "--task", MQAR, "--steps", "2"],
            "vocab_size=16 is smaller than the 64 tokens",
        ),
        (["--arch", "A", "--task", MQAR, "--steps", "0"], "steps must be a positive number"),
        (["--space", "nope.yaml", "--task", MQAR, "--steps", "2"], "nope.yaml"),
        (
            ["--space", "x.yaml", "--d-model", "8", "--task", MQAR, "--steps", "2"],
            "apply to --arch",
        ),
    ],
)
def test_mistakes_exit_2_with_one_line(capsys, argv: list[str], message: str) -> None:
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_progress_goes_to_stderr_and_chance_is_named(capsys) -> None:
    """Progress lines (steps, loss, ETA) on stderr keep stdout clean; a score that guessing
    could give is called out (4 steps teach a model nothing about MQAR)."""
    code = main(["train", "--arch", "MF", "--task", MQAR, *SMALL])
    captured = capsys.readouterr()
    assert code == 0
    spec = get_task(MQAR).spec
    assert f"training {spec}: 4 steps" in captured.err
    assert f"{spec}: step 4/4, loss " in captured.err and "done" in captured.err
    assert "step 4/4" not in captured.out and "ETA" not in captured.out  # tables alone
    assert f"{spec}: capability" in captured.out and "is at chance level (0.0312)" in captured.out


def test_json_lists_the_tasks_at_chance(capsys) -> None:
    code = main(["train", "--arch", "MF", "--task", MQAR, *SMALL, "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert code == 0 and out["at_chance"] == [get_task(MQAR).spec]
    assert "step 4/4" in captured.err
