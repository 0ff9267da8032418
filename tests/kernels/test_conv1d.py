"""causal_conv1d: the cpu kernel against PyTorch's conv1d, on values and all gradients."""

from __future__ import annotations

import pytest
import torch

from kernels import causal_conv1d


@pytest.mark.parametrize(
    ("batch", "length", "channels", "taps"),
    [(2, 37, 48, 4), (1, 5, 21, 4), (3, 2, 16, 4), (2, 19, 40, 3), (1, 70, 7, 1)],
)
@pytest.mark.parametrize("silu", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_cpu_matches_reference(
    batch: int, length: int, channels: int, taps: int, silu: bool, with_bias: bool
) -> None:
    """Channels that fill 16 lanes or not (21, 7: a partial block), L shorter than the taps,
    x a slice of a wider row (as a Mamba block's projection hands it over)."""
    gen = torch.Generator().manual_seed(0)
    wide = torch.randn(batch, length, channels + 5, generator=gen)
    weight = torch.randn(channels, taps, generator=gen)
    bias = torch.randn(channels, generator=gen) if with_bias else None
    grad = torch.randn(batch, length, channels, generator=gen)
    results = []
    for backend in ("reference", "cpu"):
        leaves = [wide.clone().requires_grad_(), weight.clone().requires_grad_()]
        if bias is not None:
            leaves.append(bias.clone().requires_grad_())
        x = leaves[0][..., 2 : 2 + channels]  # strided rows
        y = causal_conv1d(x, leaves[1], leaves[2] if bias is not None else None, silu,
                          backend=backend)  # fmt: skip
        results.append((y, torch.autograd.grad(y, leaves, grad)))
    (y_ref, grads_ref), (y, grads) = results
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for want, got in zip(grads_ref, grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_bad_weight_names_the_argument() -> None:
    with pytest.raises(ValueError, match=r"causal_conv1d: weight has shape \(5, 4\), expected"):
        causal_conv1d(torch.randn(1, 3, 4), torch.randn(5, 4))
