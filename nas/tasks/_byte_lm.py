"""Byte-level language modelling on a text corpus.

The corpus is read as raw bytes (vocabulary 256, byte 0 doubling as the filler token of
filler variants). The first ``1 - eval_fraction`` of it is the training split, the rest the
held-out split; batches are windows of ``seq_len + 1`` bytes at random offsets inside one
split, trained and scored on every next-byte prediction.

The built-in corpus ``tinyshakespeare`` (Karpathy's char-rnn collection of Shakespeare's
plays, public domain, 1,115,394 bytes) ships gzipped in ``nas/tasks/data``. ``path=`` may
instead name any file, or a directory whose non-hidden files are concatenated in sorted
path order. The spec records the absolute path, not the content: edit a corpus and its
results in a database no longer describe it.

Metrics: ``bpb``, bits per byte on the held-out split (cross-entropy / ln 2), and
``unigram_bpb``, the entropy of the held-out split's own byte histogram: the best any model
can do that ignores context. Capability is ``clip(1 - bpb / unigram_bpb, 0, 1)``: 0 for a
model that has learned nothing beyond byte frequencies (or less: uniform guessing is 8 bpb),
1 for perfect prediction. Unlike ``1 - bpb / 8`` it does not hand every model the free ~0.4
that byte frequencies alone give on English text, and it is comparable across corpora.
"""

from __future__ import annotations

import functools
import gzip
import math
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from nas.errors import UserError
from nas.tasks._base import Batch, Param, Split, Tally, Task

BUILTIN_CORPORA = {"tinyshakespeare": "tinyshakespeare.txt.gz"}


class ByteLM(Task):
    name = "byte_lm"
    metric = "bits per byte on the held-out split; capability 1 - bpb/unigram_bpb"
    PARAMS = (
        Param(
            "path",
            str,
            "tinyshakespeare",
            f"built-in corpus ({', '.join(BUILTIN_CORPORA)}) or a text file or directory",
        ),
        Param("seq_len", int, 128, "bytes per sequence", minimum=2),
        Param(
            "eval_fraction",
            float,
            0.1,
            "held-out share at the end of the corpus",
            minimum=0.01,
            maximum=0.5,
        ),
    )

    def __init__(self, params: dict) -> None:
        path = params["path"]
        if path not in BUILTIN_CORPORA:
            resolved = Path(path).expanduser().resolve()
            if not resolved.exists():
                builtin = ", ".join(BUILTIN_CORPORA)
                raise UserError(
                    f"byte_lm: path={path} does not exist (built-in corpora: {builtin})"
                )
            if "," in str(resolved):
                raise UserError(
                    f"byte_lm: path={resolved} contains ',', which task specs use "
                    "between parameters; rename or link it"
                )
            params = {**params, "path": str(resolved)}
        super().__init__(params)
        corpus = _load_corpus(self.params["path"])
        cut = int(len(corpus) * (1 - params["eval_fraction"]))
        self.splits = {"train": corpus[:cut], "eval": corpus[cut:]}
        for split, data in self.splits.items():
            if len(data) < self.seq_len + 1:
                raise UserError(
                    f"byte_lm: the {split} split of {path} has {len(data)} bytes, fewer than "
                    f"seq_len + 1 = {self.seq_len + 1}; use a larger corpus or a shorter seq_len"
                )

    @property
    def vocab_size(self) -> int:
        return 256

    @property
    def chance(self) -> float:
        return 0.0  # knowing only the byte frequencies is the unigram model: capability 0

    @functools.cached_property
    def unigram_bpb(self) -> float:
        """Entropy in bits of the held-out split's byte histogram."""
        counts = torch.bincount(self.splits["eval"], minlength=256).double()
        probs = counts[counts > 0] / counts.sum()
        return float(-(probs * probs.log2()).sum())

    def sample(self, batch_size: int, generator: torch.Generator, split: Split) -> Batch:
        data = self.splits[split]
        starts = torch.randint(len(data) - self.seq_len, (batch_size, 1), generator=generator)
        windows = data[starts + torch.arange(self.seq_len + 1)].long()
        mask = torch.ones(batch_size, self.seq_len, dtype=torch.bool)
        return Batch(windows[:, :-1], windows[:, 1:], mask, mask)

    def summarize(self, total: Tally) -> tuple[float, dict[str, float]]:
        _, metrics = super().summarize(total)
        bpb = metrics["loss"] / math.log(2)
        capability = min(1.0, max(0.0, 1.0 - bpb / self.unigram_bpb))
        return capability, {**metrics, "bpb": bpb, "unigram_bpb": self.unigram_bpb}


@functools.lru_cache(maxsize=4)
def _load_corpus(path: str) -> torch.Tensor:
    """The corpus as a uint8 tensor (cached: every task on the same path shares it)."""
    if path in BUILTIN_CORPORA:
        packaged = resources.files("nas.tasks") / "data" / BUILTIN_CORPORA[path]
        data = gzip.decompress(packaged.read_bytes())
    else:
        root = Path(path)
        files = (
            [root]
            if root.is_file()
            else sorted(
                p
                for p in root.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(root).parts)
            )
        )
        try:
            data = b"".join(f.read_bytes() for f in files)
        except OSError as exc:
            raise UserError(f"byte_lm: cannot read the corpus at {path}: {exc}") from None
    if not data:
        raise UserError(f"byte_lm: the corpus at {path} is empty")
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy())
