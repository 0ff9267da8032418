"""Budget: how long and how a proxy model is trained, and the learning-rate schedule."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from nas.arch import ArchSpec
from nas.compute import train_flops_per_token
from nas.errors import UserError

_AMOUNTS = ("steps", "tokens", "flops")


@dataclass(frozen=True)
class Budget:
    """Training length (exactly one of ``steps``, ``tokens``, ``flops``) and optimiser settings.

    - ``steps``: optimizer steps of ``batch_size`` sequences, the same for every architecture.
    - ``tokens``: training tokens (filler tokens included); steps =
      ``max(1, tokens // (batch_size * seq_len))``.
    - ``flops``: training FLOPs, compute-matched across architectures: steps =
      ``max(1, flops // (train_flops_per_token(arch, seq_len) * batch_size * seq_len))`` with
      :func:`nas.compute.train_flops_per_token`, so a cheaper architecture trains longer.

    AdamW (``betas``, ``weight_decay`` on matrices only, none on parameters marked
    ``_no_weight_decay`` such as Mamba's A_log and D), gradient clipping at ``grad_clip``,
    linear warmup over ``warmup_fraction`` of the steps then cosine decay to
    ``min_lr_fraction * lr``. The model is evaluated after ``eval_fractions`` of the steps
    (the last is always 1.0) on ``eval_batches`` held-out batches of ``eval_batch_size``
    (default ``batch_size``) sequences, the same batches for every architecture and seed.

    Example:
        >>> budget = Budget(steps=200, batch_size=16)
        >>> [round(budget.lr_at(step, 200), 6) for step in (0, 19, 20, 199)]
        [0.00015, 0.003, 0.003, 0.0003]
        >>> Budget.from_dict(budget.to_dict()) == budget
        True
    """

    steps: int | None = None
    tokens: int | None = None
    flops: float | None = None
    batch_size: int = 16
    lr: float = 3e-3
    warmup_fraction: float = 0.1
    min_lr_fraction: float = 0.1
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    eval_fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    eval_batches: int = 4
    eval_batch_size: int | None = None

    def __post_init__(self) -> None:
        given = [name for name in _AMOUNTS if getattr(self, name) is not None]
        if len(given) != 1:
            raise UserError(
                f"a budget needs exactly one of steps, tokens or flops; got {', '.join(given) or 'none'}"
            )
        amount = getattr(self, given[0])
        if (
            isinstance(amount, bool)
            or not isinstance(amount, (int, float))
            or not 0 < amount < math.inf
        ):
            raise UserError(f"budget {given[0]} must be a positive number, got {amount!r}")
        for name in ("steps", "tokens"):  # whole numbers, stored as int so that keys agree
            value = getattr(self, name)
            if value is not None:
                if value != int(value):
                    raise UserError(f"budget {name} must be a whole number, got {value!r}")
                object.__setattr__(self, name, int(value))
        if self.flops is not None:
            object.__setattr__(self, "flops", float(self.flops))
        for name in ("batch_size", "eval_batches"):
            _check_positive_int(name, getattr(self, name))
        if self.eval_batch_size is not None:
            _check_positive_int("eval_batch_size", self.eval_batch_size)
        checks = {
            "lr": 0 < self.lr < math.inf,
            "warmup_fraction": 0 <= self.warmup_fraction < 1,
            "min_lr_fraction": 0 <= self.min_lr_fraction <= 1,
            "weight_decay": 0 <= self.weight_decay < math.inf,
            "grad_clip": self.grad_clip > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise UserError(f"budget {name}={getattr(self, name)!r} is out of range")
        betas = tuple(float(b) for b in self.betas)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise UserError(f"budget betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", betas)
        fractions = tuple(sorted({float(f) for f in self.eval_fractions} | {1.0}))
        if fractions[0] <= 0 or fractions[-1] > 1:
            raise UserError(
                f"budget eval_fractions must lie in (0, 1], got {self.eval_fractions!r}"
            )
        object.__setattr__(self, "eval_fractions", fractions)

    # -- derived quantities ---------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"steps"``, ``"tokens"`` or ``"flops"``: how the amount is given."""
        return next(name for name in _AMOUNTS if getattr(self, name) is not None)

    def steps_for(self, arch: ArchSpec, seq_len: int) -> int:
        """Optimizer steps this budget gives ``arch`` on sequences of ``seq_len`` tokens."""
        if self.steps is not None:
            return self.steps
        tokens_per_step = self.batch_size * seq_len
        if self.tokens is not None:
            return max(1, int(self.tokens // tokens_per_step))
        assert self.flops is not None
        return max(1, int(self.flops // (train_flops_per_token(arch, seq_len) * tokens_per_step)))

    def scaled(self, factor: float) -> Budget:
        """This budget with its training amount (``steps``, ``tokens`` or ``flops``) times
        ``factor``; every other setting, the schedule's shape included, stays. Steps and
        tokens round to the nearest whole number, at least 1.

        Example:
            >>> Budget(steps=150).scaled(4).steps, Budget(tokens=10_000).scaled(0.5).tokens
            (600, 5000)
            >>> Budget(flops=1e12, lr=1e-3).scaled(4) == Budget(flops=4e12, lr=1e-3)
            True
        """
        if isinstance(factor, bool) or not 0 < factor < math.inf:
            raise UserError(f"a budget scale factor must be a positive number, got {factor!r}")
        amount = getattr(self, self.kind) * factor
        if self.kind != "flops":
            amount = max(1, round(amount))
        return replace(self, **{self.kind: amount})

    def eval_steps(self, steps: int) -> list[int]:
        """The steps after which the model is evaluated (distinct, ascending, ending at ``steps``)."""
        return sorted({max(1, round(fraction * steps)) for fraction in self.eval_fractions})

    def lr_at(self, step: int, steps: int) -> float:
        """Learning rate of 0-based ``step`` of ``steps``: linear warmup, then cosine decay."""
        warmup = round(self.warmup_fraction * steps)
        if step < warmup:
            return self.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - 1 - warmup)
        floor = self.min_lr_fraction * self.lr
        return floor + (self.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    # -- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["betas"], data["eval_fractions"] = list(self.betas), list(self.eval_fractions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(
                f"unknown budget settings: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        values = dict(data)
        for name in ("betas", "eval_fractions"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    @property
    def key(self) -> str:
        """Canonical JSON of every setting: equal budgets, equal keys (the cache key)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"budget {name} must be a positive integer, got {value!r}")
