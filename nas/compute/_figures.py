"""All compute figures of one architecture at once, as shown by the CLI and stored per trial."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nas.arch import ArchSpec
from nas.compute._flops import decode_flops_per_token, prefill_flops, train_flops_per_token
from nas.compute._memory import state_bytes
from nas.compute._params import non_embedding_params, param_count


@dataclass(frozen=True)
class ComputeFigures:
    """The figures of :mod:`nas.compute` for one architecture; ``seq_len`` and ``context``
    say where the length-dependent ones were taken. State bytes are bf16 (2 per value)."""

    params: int
    non_embedding_params: int
    train_flops_per_token: float
    prefill_flops: float
    decode_flops_per_token: float
    state_bytes: int
    seq_len: int
    context: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate(arch: ArchSpec, seq_len: int = 1024, context: int = 8192) -> ComputeFigures:
    """Every compute figure of ``arch``: training at ``seq_len``, inference at ``context``.

    Example:
        >>> from nas.arch import ArchSpec
        >>> figures = estimate(ArchSpec.parse("MMMA", d_model=64), seq_len=256, context=8192)
        >>> figures.params, figures.state_bytes
        (117352, 2112320)
    """
    return ComputeFigures(
        params=param_count(arch),
        non_embedding_params=non_embedding_params(arch),
        train_flops_per_token=train_flops_per_token(arch, seq_len),
        prefill_flops=prefill_flops(arch, context),
        decode_flops_per_token=decode_flops_per_token(arch, context),
        state_bytes=state_bytes(arch, context),
        seq_len=seq_len,
        context=context,
    )
