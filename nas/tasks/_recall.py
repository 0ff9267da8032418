"""In-context recall over a stream of key-value pairs, in the style of MAD (Poli et al., 2024).

Each sequence draws its own mapping of ``num_kv_pairs`` distinct keys to values (keys and
values from disjoint parts of the vocabulary), then writes a stream of pairs drawn from that
mapping, so keys recur. When a key recurs, the model must produce its value: the value's
first token at the key's last token, and each further value token at the one before it.

- ``noisy_recall``: one-token keys and values, with a ``noise_fraction`` of the sequence
  made of noise tokens (from their own small vocabulary) between the pairs.
- ``fuzzy_recall``: keys of ``key_len`` tokens and values of ``value_len`` tokens; keys are
  distinct as tuples, so single key tokens are shared between keys and do not identify one.

Metric: accuracy on the value predictions of recurring keys (the first occurrence of a key
cannot be predicted, so it is neither trained on nor scored).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nas.errors import UserError
from nas.tasks._base import Batch, Param, Split, Task, distinct_draws

_SMALL_KEY_SPACE = 1 << 16  # up to this many key tuples, draw distinct keys by shuffling


class _PairStream(Task):
    """The shared generator; subclasses choose which of its settings users may change."""

    metric = "accuracy on the values of recurring keys"

    def __init__(self, params: dict) -> None:
        super().__init__(params)
        self.key_len = int(params.get("key_len", 1))
        self.value_len = int(params.get("value_len", 1))
        self.noise_fraction = float(params.get("noise_fraction", 0.0))
        self.noise_vocab = int(params.get("noise_vocab_size", 0))
        pairs, seq_len, vocab = params["num_kv_pairs"], params["seq_len"], params["vocab_size"]
        free = vocab - 1 - self.noise_vocab  # token 0 is the reserved filler
        self.num_keys, self.num_values = free // 2, free - free // 2
        if self.num_keys < 1:
            raise UserError(
                f"{self.name}: vocab_size={vocab} leaves no key or value tokens; raise it above "
                f"{self.noise_vocab + 2}"
            )
        if pairs > self.num_keys**self.key_len:
            raise UserError(
                f"{self.name}: num_kv_pairs={pairs} distinct keys do not exist with "
                f"{self.num_keys} key tokens and key_len={self.key_len}; raise vocab_size"
            )
        self.num_noise = round(self.noise_fraction * seq_len)
        pair_len = self.key_len + self.value_len
        self.num_pairs = math.ceil((seq_len - self.num_noise) / pair_len)
        if self.num_pairs < 2 * pairs:
            raise UserError(
                f"{self.name}: seq_len={seq_len} holds only {self.num_pairs} pairs of "
                f"{pair_len} tokens, too few for num_kv_pairs={pairs} keys to recur: give seq_len "
                f">= {2 * pairs * pair_len + self.num_noise} or fewer num_kv_pairs"
            )

    @property
    def vocab_size(self) -> int:
        return int(self.params["vocab_size"])

    @property
    def chance(self) -> float:
        return 1.0 / self.num_values  # each value token is one of the value tokens

    def sample(self, batch_size: int, generator: torch.Generator, split: Split) -> Batch:
        pairs, seq_len = self.params["num_kv_pairs"], self.params["seq_len"]
        key_base = 1 + self.noise_vocab
        value_base = key_base + self.num_keys
        keys = self._distinct_keys(batch_size, generator) + key_base  # (B, pairs, key_len)
        values = (
            torch.randint(self.num_values, (batch_size, pairs, self.value_len), generator=generator)
            + value_base
        )

        # shuffle pair units and noise units, then lay them out back to back
        units = self.num_pairs + self.num_noise
        is_pair = torch.rand(batch_size, units, generator=generator).argsort(dim=1) < self.num_pairs
        lengths = torch.where(is_pair, self.key_len + self.value_len, 1)
        starts = lengths.cumsum(dim=1) - lengths
        pair_starts = starts[is_pair].view(batch_size, self.num_pairs)
        total = self.num_noise + self.num_pairs * (self.key_len + self.value_len)

        inputs = torch.zeros(batch_size, total, dtype=torch.long)
        if self.num_noise:
            noise = torch.randint(
                1, 1 + self.noise_vocab, (batch_size, self.num_noise), generator=generator
            )
            inputs.scatter_(1, starts[~is_pair].view(batch_size, self.num_noise), noise)
        which = torch.randint(pairs, (batch_size, self.num_pairs), generator=generator)
        pair_keys = keys.gather(1, which[..., None].expand(-1, -1, self.key_len))
        pair_values = values.gather(1, which[..., None].expand(-1, -1, self.value_len))
        key_at = pair_starts[..., None] + torch.arange(self.key_len)
        value_at = pair_starts[..., None] + self.key_len + torch.arange(self.value_len)
        inputs.scatter_(1, key_at.flatten(1), pair_keys.flatten(1))
        inputs.scatter_(1, value_at.flatten(1), pair_values.flatten(1))

        # a value token is predicted one position earlier, and only where the key recurs
        seen = F.one_hot(which, pairs).cumsum(dim=1).gather(2, which[..., None]).squeeze(2) > 1
        predict_at = (value_at - 1).flatten(1)
        targets = torch.zeros_like(inputs).scatter_(1, predict_at, pair_values.flatten(1))
        recurring = seen[..., None].expand(-1, -1, self.value_len).flatten(1)
        mask = torch.zeros_like(inputs, dtype=torch.bool).scatter_(1, predict_at, recurring)
        cut = slice(0, seq_len)
        return Batch(inputs[:, cut], targets[:, cut], mask[:, cut], mask[:, cut])

    def _distinct_keys(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """(B, pairs, key_len) key-token offsets, distinct as tuples within each sequence."""
        pairs, space = self.params["num_kv_pairs"], self.num_keys**self.key_len
        if space <= _SMALL_KEY_SPACE:
            codes = distinct_draws(space, pairs, batch_size, generator)
        else:  # a large space: draw, then redraw the rare duplicates until none is left
            codes = torch.randint(space, (batch_size, pairs), generator=generator)
            while True:
                ordered, order = codes.sort(dim=1)
                duplicate = torch.zeros_like(codes, dtype=torch.bool)
                duplicate[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
                if not duplicate.any():
                    break
                redraw = torch.randint(space, (int(duplicate.sum()),), generator=generator)
                ordered[duplicate] = redraw
                codes = torch.empty_like(codes).scatter_(1, order, ordered)
        digits = self.num_keys ** torch.arange(self.key_len)
        return (codes[..., None] // digits) % self.num_keys


class NoisyRecall(_PairStream):
    name = "noisy_recall"
    PARAMS = (
        Param("num_kv_pairs", int, 8, "keys in each sequence's mapping", minimum=1),
        Param("seq_len", int, 64, "sequence length", minimum=4),
        Param("vocab_size", int, 64, "token ids: filler, noise, keys, values", minimum=4),
        Param(
            "noise_fraction",
            float,
            0.2,
            "share of positions that are noise tokens",
            minimum=0,
            maximum=0.9,
        ),
        Param("noise_vocab_size", int, 8, "distinct noise tokens", minimum=1),
    )


class FuzzyRecall(_PairStream):
    name = "fuzzy_recall"
    PARAMS = (
        Param("num_kv_pairs", int, 4, "keys in each sequence's mapping", minimum=1),
        Param("seq_len", int, 64, "sequence length", minimum=4),
        Param("vocab_size", int, 32, "token ids: filler, key tokens, value tokens", minimum=3),
        Param("key_len", int, 2, "tokens per key", minimum=1),
        Param("value_len", int, 2, "tokens per value", minimum=1),
    )
