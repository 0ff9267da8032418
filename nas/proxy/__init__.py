"""Proxy evaluation: train an architecture briefly on capability tasks, and measure it.

:func:`evaluate` is a pure function (no database): ``(ArchSpec, tasks, Budget, seed) ->
Metrics``. Budgets are given in steps, tokens or training FLOPs (compute-matched through
:func:`nas.compute.train_flops_per_token`); intermediate evaluations are streamed as
:class:`Report` values; divergence and training errors become a status, not an exception.

Example:
    >>> from nas.arch import ArchSpec
    >>> arch = ArchSpec.parse("MA", d_model=32, vocab_size=64)
    >>> metrics = evaluate(arch, ["selective_copy:num_tokens=2,seq_len=8"], Budget(steps=3), seed=1)
    >>> metrics.status, 0.0 <= metrics.capability() <= 1.0, metrics.memory_kind
    ('ok', True, 'rss')

``nas bench train`` (:mod:`nas.proxy.bench`) measures proxy training tokens/s per family.
"""

from nas.proxy._budget import Budget
from nas.proxy._evaluate import EVAL_SEED, check_device, evaluate
from nas.proxy._metrics import STATUSES, Metrics, Report, Status, TaskResult

__all__ = [
    "EVAL_SEED",
    "STATUSES",
    "Budget",
    "Metrics",
    "Report",
    "Status",
    "TaskResult",
    "check_device",
    "evaluate",
]
