"""What an evaluation returns: per-task results with learning curves, and the measurements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from nas.errors import UserError
from nas.tasks import get_task

Status = Literal["ok", "diverged", "failed"]
STATUSES: tuple[Status, ...] = ("ok", "diverged", "failed")


@dataclass(frozen=True)
class Report:
    """One intermediate evaluation, streamed to ``evaluate``'s ``on_report`` as training goes.

    ``task`` is the spec being trained; ``counterpart_of`` names the filler task when this run
    is the clean counterpart trained to measure its gap. ``loss`` is the mean training loss
    since the previous report; ``metrics`` are the task's raw held-out metrics.
    """

    task: str
    step: int
    steps: int
    tokens: int
    flops: float
    loss: float
    capability: float
    metrics: dict[str, float]
    wall_s: float
    counterpart_of: str | None = None

    @property
    def fraction(self) -> float:
        """Share of this task's budget done."""
        return self.step / self.steps

    def curve_entry(self) -> dict[str, float]:
        """This report as one learning-curve point, as ``TaskResult.curve`` stores it."""
        return {
            "step": self.step,
            "tokens": self.tokens,
            "flops": self.flops,
            "fraction": self.fraction,
            "wall_s": self.wall_s,
            "loss": self.loss,
            "capability": self.capability,
            **{f"eval_{name}": value for name, value in self.metrics.items()},
        }


@dataclass(frozen=True)
class TaskResult:
    """One task's outcome.

    ``capability`` is the task's score in [0, 1] at the end of training (0.0 when the run
    diverged or failed; the curve keeps what was measured before). ``metrics`` holds the raw
    held-out metrics at the end, the training totals (``steps``, ``tokens``, ``flops``,
    ``train_s``) and, for a filler task, ``clean_capability`` and ``filler_gap`` =
    clean_capability - capability. ``curve`` has one entry per intermediate evaluation:
    step, tokens, flops, fraction, wall_s, loss (training), capability, and ``eval_<name>``
    for every raw metric. ``clean`` is a filler task's clean counterpart, trained with the
    same steps and batch size.
    """

    task: str
    status: Status
    capability: float
    metrics: dict[str, float]
    curve: list[dict[str, float]]
    error: str | None = None
    clean: TaskResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskResult:
        values = dict(data)
        if values.get("clean") is not None:
            values["clean"] = cls.from_dict(values["clean"])
        return cls(**values)


@dataclass(frozen=True)
class Metrics:
    """The result of :func:`nas.proxy.evaluate`: JSON-safe through ``to_dict``/``from_dict``.

    ``status`` is "ok" when every task trained to the end, else "failed" if any task failed
    and "diverged" if any diverged; ``error`` is the first such task's message. Measurements:
    ``tokens_per_s`` (training tokens over training time, evaluations excluded),
    ``wall_s`` (the whole call), ``peak_memory_bytes`` (``memory_kind`` says which:
    "cuda_allocator" is ``torch.cuda.max_memory_allocated``, "rss" the process's peak
    resident set sampled after every forward pass, interpreter and libraries included),
    ``device`` ("cpu", "cuda:0") and ``device_name`` (the GPU or CPU model), ``backend`` (the
    kernel backend the SSM scans ran: "cpu", "torch", "triton" or "reference"), ``versions`` of
    Python and the packages that shape the numbers, and ``num_threads`` (torch's CPU threads).
    """

    status: Status
    error: str | None
    tasks: dict[str, TaskResult]
    tokens_per_s: float
    wall_s: float
    peak_memory_bytes: int
    memory_kind: str
    device: str
    device_name: str
    backend: str
    versions: dict[str, str]
    seed: int
    arch_hash: str
    budget: dict[str, Any]
    num_threads: int

    def capability(self, weights: Mapping[str, float] | None = None) -> float:
        """Weighted mean of the task capabilities (equal weights by default).

        ``weights`` maps task specs, in any spelling ``get_task`` accepts, to weights >= 0.
        """
        if weights is None:
            weights = {spec: 1.0 for spec in self.tasks}
        canonical = {get_task(spec).spec: float(w) for spec, w in weights.items()}
        missing = sorted(set(canonical) - set(self.tasks))
        if missing:
            raise UserError(f"no result for task(s) {', '.join(missing)} in this evaluation")
        total = sum(canonical.values())
        if total <= 0:
            raise UserError("task weights must add up to more than 0")
        return sum(w * self.tasks[spec].capability for spec, w in canonical.items()) / total

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tasks"] = {spec: result.to_dict() for spec, result in self.tasks.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        values = dict(data)
        values["tasks"] = {spec: TaskResult.from_dict(r) for spec, r in values["tasks"].items()}
        return cls(**values)
