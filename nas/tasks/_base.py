"""What every task is: parameters, a canonical spec, seeded batches and one scoring rule.

A task turns ``(split, batch_size, seed)`` into batches of token ids with per-position
targets and two masks: ``loss_mask`` (positions trained on) and ``metric_mask`` (positions
scored). Token id 0 is reserved in every task as the filler token (see ``_filler.py``),
so a clean task never emits it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from nas.errors import UserError

Split = Literal["train", "eval"]
SPLITS: tuple[Split, ...] = ("train", "eval")
FILLER_TOKEN = 0


@dataclass(frozen=True)
class Batch:
    """One batch: ``inputs`` and ``targets`` (B, T) int64, ``loss_mask``/``metric_mask`` (B, T) bool."""

    inputs: torch.Tensor
    targets: torch.Tensor
    loss_mask: torch.Tensor
    metric_mask: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            *(t.to(device) for t in (self.inputs, self.targets, self.loss_mask, self.metric_mask))
        )


@dataclass(frozen=True)
class Tally:
    """Sums over scored positions, added up across eval batches before a task summarises them.

    ``nll`` is the summed cross-entropy in nats, ``correct`` the argmax hits, ``count`` the
    number of scored positions.
    """

    nll: float = 0.0
    correct: float = 0.0
    count: float = 0.0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.nll + other.nll, self.correct + other.correct, self.count + other.count)


def tally(logits: torch.Tensor, batch: Batch) -> Tally:
    """Score ``logits`` (B, T, V) on the batch's metric positions (targets must be < V)."""
    mask = batch.metric_mask
    picked, targets = logits[mask].float(), batch.targets[mask]
    nll = F.cross_entropy(picked, targets, reduction="sum")
    correct = (picked.argmax(dim=-1) == targets).sum()
    return Tally(float(nll), float(correct), float(mask.sum()))


@dataclass(frozen=True)
class Param:
    """One task parameter: its type, default and allowed range, for parsing and for help."""

    name: str
    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, raw: str) -> Any:
        """The typed value of ``raw``, or UserError saying what is allowed."""
        try:
            value = self.kind(raw)
        except ValueError:
            raise UserError(f"{self.name}={raw!r} is not {self._kind_name()}") from None
        if self.kind is float and not math.isfinite(value):
            raise UserError(f"{self.name}={raw!r} must be a finite number")
        if self.minimum is not None and value < self.minimum:
            raise UserError(f"{self.name}={raw} must be >= {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise UserError(f"{self.name}={raw} must be <= {self.maximum:g}")
        return value

    def _kind_name(self) -> str:
        return {int: "an integer", float: "a number", str: "a string"}[self.kind]


FILLER_PARAM = Param(
    "filler", int, 0, "filler tokens inserted after every real token (0: the clean task)", minimum=0
)


def format_value(value: Any) -> str:
    """Canonical text of a parameter value: ints plainly, floats by ``repr`` (0.1, 1.0)."""
    return repr(float(value)) if isinstance(value, float) else str(value)


class Task(ABC):
    """A deterministic capability task.

    Subclasses set ``name``, ``PARAMS`` and ``metric`` (one line for docs and help), and
    implement ``vocab_size``, ``sample`` and, when the score is not accuracy, ``summarize``.
    Build tasks with :func:`nas.tasks.get_task`, which validates parameters.
    """

    name: ClassVar[str]
    PARAMS: ClassVar[tuple[Param, ...]]
    metric: ClassVar[str]

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    # -- identity -------------------------------------------------------------------------
    @property
    def filler(self) -> int:
        """Filler tokens per real token; 0 for a clean task."""
        return 0

    @property
    def spec(self) -> str:
        """Canonical ``name:k=v,...`` with every parameter (defaults included), sorted by key.

        Defaults are written out so that a spec stays the key of the same data even if a
        default changes; ``get_task(task.spec).spec == task.spec``.
        """
        params = {**self.params, FILLER_PARAM.name: self.filler}
        body = ",".join(f"{key}={format_value(params[key])}" for key in sorted(params))
        return f"{self.name}:{body}"

    @property
    def clean(self) -> Task:
        """The task without filler tokens (itself for a clean task)."""
        return self

    def __repr__(self) -> str:
        return f"get_task({self.spec!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    # -- shape ----------------------------------------------------------------------------
    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Token ids are in ``[0, vocab_size)``; a model needs at least this many."""

    @property
    def seq_len(self) -> int:
        """Length of every sequence the model sees."""
        return int(self.params["seq_len"])

    # -- data -----------------------------------------------------------------------------
    @abstractmethod
    def sample(self, batch_size: int, generator: torch.Generator, split: Split) -> Batch:
        """One batch drawn with ``generator`` (CPU tensors)."""

    def batches(self, split: Split, batch_size: int, seed: int) -> Iterator[Batch]:
        """An endless, reproducible stream of batches: same (split, batch_size, seed), same batches.

        >>> from nas.tasks import get_task
        >>> task = get_task("mqar:num_kv_pairs=4,seq_len=32")
        >>> a, b = next(task.batches("train", 2, seed=0)), next(task.batches("train", 2, seed=0))
        >>> bool((a.inputs == b.inputs).all()), tuple(a.inputs.shape)
        (True, (2, 32))
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        generator = torch.Generator().manual_seed(_stream_seed(seed, split))
        while True:
            yield self.sample(batch_size, generator, split)

    # -- score ----------------------------------------------------------------------------
    @property
    @abstractmethod
    def chance(self) -> float:
        """The capability of a model that learned nothing about the task beyond which
        tokens can be answers: for accuracy, 1 / the tokens an answer is drawn from."""

    def at_chance(self, capability: float, positions: float) -> bool:
        """Whether ``capability``, scored on ``positions`` held-out positions, is not
        measurably above :attr:`chance`: within two binomial standard errors of it.

        >>> from nas.tasks import get_task
        >>> task = get_task("mqar:num_kv_pairs=4")   # 32 value tokens: chance 1/32
        >>> task.at_chance(0.023, 1024), task.at_chance(0.25, 1024)
        (True, False)
        """
        p = self.chance
        return capability <= p + 2.0 * math.sqrt(p * (1.0 - p) / max(positions, 1.0))

    def summarize(self, total: Tally) -> tuple[float, dict[str, float]]:
        """Capability in [0, 1] and the raw metrics from a :class:`Tally` over eval batches.

        The default is accuracy: capability = the share of scored positions whose argmax
        prediction is the target.
        """
        accuracy = total.correct / max(total.count, 1.0)
        loss = total.nll / max(total.count, 1.0)
        return accuracy, {"accuracy": accuracy, "loss": loss, "positions": total.count}


def _stream_seed(seed: int, split: Split) -> int:
    """Independent generator seeds for the two splits of one seed (a fixed odd multiplier mix)."""
    return (int(seed) * 0x9E3779B1 + SPLITS.index(split) * 0x85EBCA77) % (2**63 - 1)


def distinct_draws(
    high: int, count: int, batch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """``count`` distinct integers from ``[0, high)`` per row, in random order: (batch_size, count)."""
    return torch.rand(batch_size, high, generator=generator).argsort(dim=1)[:, :count]
