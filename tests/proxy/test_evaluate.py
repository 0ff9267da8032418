"""evaluate(): determinism, streamed reports, measurements, filler gaps, and failure as a status."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

import nas.proxy._evaluate as evaluate_module
from nas.arch import ArchSpec, AttentionSpec
from nas.errors import UserError
from nas.proxy import Budget, Metrics, Report, evaluate
from nas.tasks import get_task

ARCH = ArchSpec.parse(
    "MA", d_model=16, vocab_size=64, attention=AttentionSpec(n_heads=2, n_kv_heads=2)
)
MQAR = "mqar:num_kv_pairs=2,seq_len=16"
COPY = "selective_copy:num_tokens=2,seq_len=8"
BUDGET = Budget(steps=8, batch_size=4, eval_batches=2)


def run(tasks: list[str], budget: Budget = BUDGET, seed: int = 0, **kwargs: Any) -> Metrics:
    return evaluate(ARCH, tasks, budget, seed, num_threads=1, **kwargs)


def without_timings(metrics: Metrics) -> dict:
    data = metrics.to_dict()
    for key in ("tokens_per_s", "wall_s", "peak_memory_bytes"):
        data.pop(key)

    def scrub(result: dict) -> None:
        result["metrics"].pop("train_s")
        for point in result["curve"]:
            point.pop("wall_s")
        if result["clean"]:
            scrub(result["clean"])

    for result in data["tasks"].values():
        scrub(result)
    return data


def test_same_seed_same_metrics_on_cpu() -> None:
    first, again = run([MQAR, COPY]), run([get_task(MQAR), COPY])
    assert first.status == "ok" and first.error is None
    assert without_timings(first) == without_timings(again)
    other = run([MQAR, COPY], seed=1)
    assert without_timings(other)["tasks"] != without_timings(first)["tasks"]


def test_reports_stream_at_the_budget_fractions() -> None:
    reports: list[Report] = []
    steps: list[tuple[str, int, int]] = []
    metrics = run([MQAR], on_report=reports.append, on_step=lambda *a: steps.append(a))
    spec = get_task(MQAR).spec
    assert set(run(MQAR).tasks) == {spec}  # one task may be given bare
    assert [r.step for r in reports] == [2, 4, 8] and [r.fraction for r in reports] == [
        0.25,
        0.5,
        1.0,
    ]
    assert steps == [(spec, i, 8) for i in range(1, 9)]
    result = metrics.tasks[spec]
    assert [p["step"] for p in result.curve] == [2, 4, 8]
    assert [p["capability"] for p in result.curve] == [r.capability for r in reports]
    assert result.capability == reports[-1].capability == result.metrics["accuracy"]
    assert reports[-1].tokens == 8 * 4 * 16 == result.metrics["tokens"]
    assert reports[-1].flops == pytest.approx(result.metrics["flops"]) and reports[-1].flops > 0
    assert all(r.counterpart_of is None and r.task == spec for r in reports)
    assert {"eval_accuracy", "eval_loss", "loss", "tokens", "flops"} <= set(result.curve[0])


def test_measurements_and_json_round_trip() -> None:
    before = torch.get_num_threads()
    metrics = evaluate(ARCH, [MQAR], BUDGET, 0, num_threads=1)
    assert torch.get_num_threads() == before and metrics.num_threads == 1
    assert metrics.tokens_per_s > 0 and metrics.wall_s > 0
    assert metrics.peak_memory_bytes > 10 * 2**20 and metrics.memory_kind == "rss"
    assert metrics.device == "cpu" and metrics.backend == "cpu"  # the C kernels, auto on CPU
    assert metrics.versions["torch"] == torch.__version__ and "python" in metrics.versions
    assert metrics.arch_hash == ARCH.arch_hash and metrics.budget == BUDGET.to_dict()
    again = Metrics.from_dict(json.loads(json.dumps(metrics.to_dict())))
    assert again == metrics


def test_filler_task_reports_the_gap_to_its_clean_counterpart() -> None:
    reports: list[Report] = []
    filler = f"{COPY},filler=1"
    metrics = run([filler, COPY], on_report=reports.append)
    spec, clean_spec = get_task(filler).spec, get_task(COPY).spec
    result = metrics.tasks[spec]
    assert result.clean is not None and result.clean == metrics.tasks[clean_spec]
    assert result.metrics["clean_capability"] == result.clean.capability
    assert result.metrics["filler_gap"] == pytest.approx(
        result.clean.capability - result.capability
    )
    assert result.metrics["steps"] == result.clean.metrics["steps"] == 8  # same steps and batches
    assert result.metrics["tokens"] == 2 * result.clean.metrics["tokens"]
    # the clean run served both as the counterpart and as the requested task: trained once
    assert [(r.task, r.counterpart_of) for r in reports].count((clean_spec, spec)) == 3
    assert len(reports) == 6


def test_compute_matched_budget_gives_each_architecture_its_steps() -> None:
    big = ArchSpec.parse("MAMA", d_model=32, vocab_size=64)
    budget = Budget(flops=3e7, batch_size=4, eval_batches=1)
    small_steps = run([MQAR], budget).tasks[get_task(MQAR).spec].metrics
    big_steps = evaluate(big, [MQAR], budget, 0, num_threads=1).tasks[get_task(MQAR).spec].metrics
    assert small_steps["steps"] > big_steps["steps"] >= 1
    assert small_steps["flops"] <= 3e7 and big_steps["flops"] <= 3e7


def test_divergence_is_a_status_not_an_exception() -> None:
    budget = Budget(steps=30, batch_size=4, lr=1e4, warmup_fraction=0.0, grad_clip=1e9)
    metrics = run([MQAR, COPY], budget)
    assert metrics.status == "diverged"
    assert (
        "the training loss became nan at step" in metrics.error
        and "lower budget lr" in metrics.error
    )
    result = metrics.tasks[get_task(MQAR).spec]
    assert result.status == "diverged" and result.capability == 0.0
    assert result.metrics["steps"] < 30


def test_divergence_names_the_budget_lr_and_the_step_s() -> None:
    """During warm-up the step's lr is a fraction of the budget's: both are named."""
    budget = Budget(steps=30, batch_size=4, lr=1e4, warmup_fraction=0.5, grad_clip=1e9)
    error = run([MQAR], budget).error or ""
    step = int(error.split(" at step ")[1].split()[0])
    assert (
        f"budget lr 1e+04; at this step of the schedule {budget.lr_at(step - 1, 30):.3g})" in error
    )


def test_a_training_error_is_a_failed_status_with_its_location(monkeypatch) -> None:
    def broken(arch: ArchSpec, *, backend: str) -> torch.nn.Module:
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(evaluate_module, "build_model", broken)
    metrics = run([MQAR])
    assert metrics.status == "failed"
    assert (
        "RuntimeError: kernel exploded (at " in metrics.error
        and "test_evaluate.py" in metrics.error
    )


def test_callback_errors_reach_the_caller() -> None:
    class Stop(Exception):
        pass

    def stop(report: Report) -> None:
        raise Stop

    with pytest.raises(Stop):
        run([MQAR], on_report=stop)


@pytest.mark.parametrize(
    ("tasks", "kwargs", "message"),
    [
        (["byte_lm:seq_len=8"], {}, "vocab_size=64 is smaller than the 256 tokens of task byte_lm"),
        (["mqr"], {}, "did you mean 'mqar'"),
        ([], {}, "at least one task"),
        ([MQAR], {"backend": "cuda-magic"}, "backend must be one of"),
        ([MQAR], {"device": "tpu:7"}, "tpu"),
        pytest.param(
            [MQAR],
            {"device": "cuda"},
            "no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_configuration_mistakes_raise_before_training(tasks, kwargs, message) -> None:
    with pytest.raises(UserError, match=message):
        run(tasks, **kwargs)


def test_weighted_capability_over_tasks() -> None:
    metrics = run([MQAR, COPY])
    mqar, copy = (metrics.tasks[get_task(t).spec].capability for t in (MQAR, COPY))
    assert metrics.capability() == pytest.approx((mqar + copy) / 2)
    assert metrics.capability({MQAR: 3, f"{COPY},filler=0": 1}) == pytest.approx(
        (3 * mqar + copy) / 4
    )
    with pytest.raises(UserError, match="no result for task"):
        metrics.capability({"byte_lm": 1})
