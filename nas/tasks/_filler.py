"""Filler variants: any task with ``filler=k`` filler tokens after every real token.

Real token i of the clean sequence sits at position ``i * (k + 1)``, followed by ``k``
copies of the filler token (id 0, which no clean task emits; a NUL byte for byte_lm). The
targets and masks of the real positions are the clean task's; filler positions are neither
trained on nor scored, so the capability is measured on the real positions only and means
the same thing as the clean task's. An architecture that ignores content-free tokens
scores the same on both; the evaluator reports the gap (see ``nas.proxy``).
"""

from __future__ import annotations

import torch

from nas.tasks._base import FILLER_TOKEN, Batch, Split, Tally, Task


class FillerTask(Task):
    """``clean`` with ``filler`` filler tokens inserted after each of its tokens."""

    def __init__(self, clean: Task, filler: int) -> None:
        super().__init__(clean.params)
        self.name = clean.name
        self.metric = clean.metric
        self.PARAMS = clean.PARAMS
        self._clean = clean
        self._filler = filler

    @property
    def filler(self) -> int:
        return self._filler

    @property
    def clean(self) -> Task:
        return self._clean

    @property
    def vocab_size(self) -> int:
        return self._clean.vocab_size

    @property
    def chance(self) -> float:
        return self._clean.chance

    @property
    def seq_len(self) -> int:
        return self._clean.seq_len * (self._filler + 1)

    def sample(self, batch_size: int, generator: torch.Generator, split: Split) -> Batch:
        clean = self._clean.sample(batch_size, generator, split)
        stride = self._filler + 1

        def spread(values: torch.Tensor, fill: int | bool) -> torch.Tensor:
            out = torch.full((batch_size, self.seq_len), fill, dtype=values.dtype)
            out[:, ::stride] = values
            return out

        return Batch(
            spread(clean.inputs, FILLER_TOKEN),
            spread(clean.targets, 0),
            spread(clean.loss_mask, False),
            spread(clean.metric_mask, False),
        )

    def summarize(self, total: Tally) -> tuple[float, dict[str, float]]:
        return self._clean.summarize(total)
