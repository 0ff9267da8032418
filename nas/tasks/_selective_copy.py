"""Selective copying, as in the Mamba paper (Gu and Dao, 2023).

``num_tokens`` data tokens are scattered at random positions of a region of blank (noise)
tokens; a run of ``num_tokens`` copy markers follows, and at the i-th marker the model must
output the i-th data token of the region. Solving it needs content-dependent memory: which
positions hold data varies from sequence to sequence, so a fixed-delay filter cannot.

Token ids: 0 filler (reserved), 1 blank, 2 copy marker, 3..vocab_size-1 data.
Metric: accuracy at the copy markers (the only positions trained on and scored); chance is
1 / (vocab_size - 3).
"""

from __future__ import annotations

import torch

from nas.errors import UserError
from nas.tasks._base import Batch, Param, Split, Task, distinct_draws

BLANK, MARKER, FIRST_DATA = 1, 2, 3


class SelectiveCopy(Task):
    name = "selective_copy"
    metric = "accuracy at the copy-out positions"
    PARAMS = (
        Param("num_tokens", int, 8, "data tokens to copy", minimum=1),
        Param("seq_len", int, 64, "sequence length (scatter region plus copy-out run)", minimum=2),
        Param("vocab_size", int, 16, "token ids; 3..vocab_size-1 are data tokens", minimum=4),
    )

    def __init__(self, params: dict) -> None:
        super().__init__(params)
        count, seq_len = params["num_tokens"], params["seq_len"]
        if seq_len < 2 * count:
            raise UserError(
                f"selective_copy: seq_len={seq_len} is too short for num_tokens={count}: the "
                f"scatter region and the copy-out run need seq_len >= {2 * count}"
            )

    @property
    def vocab_size(self) -> int:
        return int(self.params["vocab_size"])

    @property
    def chance(self) -> float:
        return 1.0 / (self.vocab_size - FIRST_DATA)

    def sample(self, batch_size: int, generator: torch.Generator, split: Split) -> Batch:
        count, seq_len = self.params["num_tokens"], self.params["seq_len"]
        region_len = seq_len - count
        positions = distinct_draws(region_len, count, batch_size, generator).sort(dim=1).values
        data = torch.randint(FIRST_DATA, self.vocab_size, (batch_size, count), generator=generator)
        region = torch.full((batch_size, region_len), BLANK).scatter_(1, positions, data)
        inputs = torch.cat((region, torch.full((batch_size, count), MARKER)), dim=1)
        targets = torch.cat((torch.zeros_like(region), data), dim=1)
        mask = torch.zeros_like(inputs, dtype=torch.bool)
        mask[:, region_len:] = True
        return Batch(inputs, targets, mask, mask)
