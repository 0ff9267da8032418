"""Budget: one amount, validated settings, compute-matched steps and the LR schedule."""

from __future__ import annotations

import json

import pytest

from nas.arch import ArchSpec
from nas.compute import train_flops_per_token
from nas.errors import UserError
from nas.proxy import Budget


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of steps, tokens or flops; got none"),
        ({"steps": 10, "tokens": 100}, "got steps, tokens"),
        ({"steps": 0}, "steps must be a positive number"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"flops": float("inf")}, "flops must be a positive number"),
        ({"steps": 10, "batch_size": 0}, "batch_size must be a positive integer"),
        ({"steps": 10, "lr": -1.0}, "lr=-1.0 is out of range"),
        ({"steps": 10, "warmup_fraction": 1.0}, "warmup_fraction=1.0 is out of range"),
        ({"steps": 10, "eval_fractions": (0.0, 0.5)}, "eval_fractions must lie in (0, 1]"),
        ({"steps": 10, "betas": (0.9,)}, "betas must be two numbers"),
    ],
)
def test_bad_budgets_are_user_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError) as error:
        Budget(**kwargs)
    assert message in str(error.value)


def test_canonical_values_and_key() -> None:
    a = Budget(tokens=1e6, eval_fractions=[0.5, 0.25])
    b = Budget.from_dict(json.loads(json.dumps(a.to_dict())))
    assert a.tokens == 1_000_000 and isinstance(a.tokens, int)
    assert a.eval_fractions == (0.25, 0.5, 1.0)  # sorted, the final evaluation always included
    assert a == b and a.key == b.key == Budget(tokens=1_000_000, eval_fractions=(0.25, 0.5)).key
    assert a.key != Budget(tokens=1_000_000, lr=1e-3).key
    assert a.kind == "tokens" and Budget(flops=1e12).kind == "flops"
    with pytest.raises(UserError, match="unknown budget settings: stepz"):
        Budget.from_dict({"stepz": 3})


def test_tokens_and_flops_budgets_derive_steps() -> None:
    small = ArchSpec.parse("MA", d_model=32, vocab_size=64)
    large = ArchSpec.parse("MAMA", d_model=64, vocab_size=64)
    assert Budget(steps=7).steps_for(large, 64) == 7
    assert Budget(tokens=10_000, batch_size=8).steps_for(small, 64) == 10_000 // 512
    assert Budget(tokens=10, batch_size=8).steps_for(small, 64) == 1  # never zero steps
    flops = 3e11
    budget = Budget(flops=flops, batch_size=8)
    steps = {arch: budget.steps_for(arch, 64) for arch in (small, large)}
    assert steps[small] > steps[large]  # compute-matched: the cheaper model trains longer
    for arch, n in steps.items():
        per_step = train_flops_per_token(arch, 64) * 8 * 64
        assert n * per_step <= flops < (n + 1) * per_step


def test_eval_steps_and_the_warmup_cosine_schedule() -> None:
    budget = Budget(steps=100, lr=1e-2, warmup_fraction=0.1, min_lr_fraction=0.1)
    assert budget.eval_steps(100) == [25, 50, 100] and budget.eval_steps(2) == [1, 2]
    lrs = [budget.lr_at(step, 100) for step in range(100)]
    assert lrs[:10] == sorted(lrs[:10]) and lrs[9] == pytest.approx(1e-2)
    assert lrs[10:] == sorted(lrs[10:], reverse=True)
    assert lrs[-1] == pytest.approx(1e-3) and min(lrs[10:]) >= 1e-3
    flat = Budget(steps=10, warmup_fraction=0.0, min_lr_fraction=1.0, lr=0.5)
    assert {flat.lr_at(step, 10) for step in range(10)} == {0.5}
