"""Multi-query associative recall (MQAR), in the style of Zoology (Arora et al., 2023).

A sequence opens with ``num_kv_pairs`` key-value pairs ``k1 v1 k2 v2 ...``; keys and values
come from disjoint halves of the vocabulary and are distinct within a sequence. Every key
is then queried once in the rest of the sequence, among random tokens; at a query the model
must predict that key's value. The other positions after the block hold random value
tokens, so that every key there is a query (Zoology draws them from the whole vocabulary,
which at a small vocabulary puts decoy keys before the queries). A query's offset from the
end of the key-value block follows a power law, P(offset s) proportional to
(s + 1)^-gap_power, so most queries come soon after the block and a few come late.

Metric: accuracy of the argmax prediction at the query positions (the only positions
trained on and scored). Chance is about 1 / (number of value tokens).
"""

from __future__ import annotations

import torch

from nas.errors import UserError
from nas.tasks._base import Batch, Param, Split, Task, distinct_draws


class MQAR(Task):
    name = "mqar"
    metric = "accuracy at the query positions"
    PARAMS = (
        Param("num_kv_pairs", int, 8, "key-value pairs per sequence, each queried once", minimum=1),
        Param("seq_len", int, 64, "sequence length (key-value block plus query region)", minimum=4),
        Param(
            "vocab_size",
            int,
            64,
            "token ids 1..vocab_size-1, split into keys and values",
            minimum=5,
        ),
        Param(
            "gap_power", float, 1.0, "power-law exponent of query offsets (0: uniform)", minimum=0
        ),
    )

    def __init__(self, params: dict) -> None:
        super().__init__(params)
        pairs, seq_len = params["num_kv_pairs"], params["seq_len"]
        self.num_keys = (params["vocab_size"] - 1) // 2
        self.num_values = params["vocab_size"] - 1 - self.num_keys
        if pairs > self.num_keys:
            raise UserError(
                f"mqar: num_kv_pairs={pairs} needs distinct keys, but vocab_size="
                f"{params['vocab_size']} has only {self.num_keys} key tokens; raise vocab_size "
                f"to at least {2 * pairs + 1}"
            )
        if seq_len < 3 * pairs:
            raise UserError(
                f"mqar: seq_len={seq_len} is too short for num_kv_pairs={pairs}: the key-value "
                f"block and one query per key need seq_len >= {3 * pairs}"
            )

    @property
    def vocab_size(self) -> int:
        return int(self.params["vocab_size"])

    @property
    def chance(self) -> float:
        return 1.0 / self.num_values

    def sample(self, batch_size: int, generator: torch.Generator, split: Split) -> Batch:
        pairs, seq_len = self.params["num_kv_pairs"], self.params["seq_len"]
        keys = distinct_draws(self.num_keys, pairs, batch_size, generator) + 1
        values = distinct_draws(self.num_values, pairs, batch_size, generator) + 1 + self.num_keys
        block = torch.stack((keys, values), dim=2).reshape(batch_size, 2 * pairs)

        # the query region: random value tokens (so every key in it is a query), then one
        # query per key at power-law offsets
        region_len = seq_len - 2 * pairs
        region = torch.randint(
            1 + self.num_keys, self.vocab_size, (batch_size, region_len), generator=generator
        )
        weights = torch.arange(1, region_len + 1, dtype=torch.float64) ** -self.params["gap_power"]
        offsets = torch.multinomial(
            weights.expand(batch_size, region_len), pairs, replacement=False, generator=generator
        )
        order = torch.rand(batch_size, pairs, generator=generator).argsort(dim=1)  # which key where
        region.scatter_(1, offsets, keys.gather(1, order))

        inputs = torch.cat((block, region), dim=1)
        positions = offsets + 2 * pairs
        targets = torch.zeros_like(inputs).scatter_(1, positions, values.gather(1, order))
        mask = torch.zeros_like(inputs, dtype=torch.bool).scatter_(1, positions, True)
        return Batch(inputs, targets, mask, mask)
