"""HybridLM's behaviour: shapes, causality, the sliding window, gradients, initialisation,
backends, and that a tiny model can memorise a batch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nas.arch import ArchSpec, AttentionSpec, MLPSpec, SSMSpec
from nas.models import HybridLM, build_model

VOCAB = 32
MAMBA1 = SSMSpec(kind="mamba1", d_state=8)
MAMBA2 = SSMSpec(kind="mamba2", d_state=8, headdim=8, ngroups=2)
KINDS = {
    "mamba1": ArchSpec(layout="MM", d_model=32, vocab_size=VOCAB, ssm=MAMBA1),
    "mamba2": ArchSpec(layout="MM", d_model=32, vocab_size=VOCAB, ssm=MAMBA2),
    "attention-gqa": ArchSpec(
        layout="AA", d_model=32, vocab_size=VOCAB, attention=AttentionSpec(4, n_kv_heads=2)
    ),
    "attention-window": ArchSpec(
        layout="AA", d_model=32, vocab_size=VOCAB, attention=AttentionSpec(window=3)
    ),
    "attention-norope": ArchSpec(
        layout="AA", d_model=32, vocab_size=VOCAB, attention=AttentionSpec(rope=False)
    ),
    "mlp-swiglu": ArchSpec(layout="AF", d_model=32, vocab_size=VOCAB),
    "mlp-gelu": ArchSpec(layout="AF", d_model=32, vocab_size=VOCAB, mlp=MLPSpec("gelu", 64)),
}


def model_of(arch: ArchSpec, seed: int = 0, backend: str = "torch") -> HybridLM:
    torch.manual_seed(seed)
    return build_model(arch, backend=backend)


@pytest.mark.parametrize("name", KINDS)
def test_causal(name: str) -> None:
    """Changing token t + 1 changes the logits from t + 1 on and none before; 150 tokens span
    several SSD chunks (64) and selective-scan blocks (128)."""
    model = model_of(KINDS[name])
    tokens = torch.randint(0, VOCAB, (2, 150))
    changed = tokens.clone()
    t = 130
    changed[:, t + 1] = (tokens[:, t + 1] + 1) % VOCAB
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert before.shape == (2, 150, VOCAB)
    torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1], rtol=0, atol=1e-5)
    assert (before[:, t + 1] - after[:, t + 1]).abs().max() > 1e-4


def test_window_sees_exactly_window_tokens() -> None:
    """One attention layer with window W: query t reads keys t - W + 1 .. t, the pairs that
    nas.compute counts."""
    arch = ArchSpec(
        layout="A", d_model=16, vocab_size=VOCAB, attention=AttentionSpec(2, 2, window=3)
    )
    model = model_of(arch)
    tokens = torch.randint(0, VOCAB, (1, 12))
    changed = tokens.clone()
    changed[0, 4] = (tokens[0, 4] + 1) % VOCAB
    with torch.no_grad():
        delta = (model(tokens) - model(changed)).abs().amax(-1)[0]
    assert (delta[4:7] > 1e-4).all()  # queries 4, 5, 6 see key 4
    assert (delta[:4] == 0).all() and (delta[7:] == 0).all()


@pytest.mark.parametrize("kind", [MAMBA1, MAMBA2], ids=["mamba1", "mamba2"])
def test_every_parameter_gets_a_gradient(kind: SSMSpec) -> None:
    arch = ArchSpec(
        layout="MFAF",
        d_model=32,
        vocab_size=VOCAB,
        tie_embeddings=False,
        ssm=kind,
        attention=AttentionSpec(4, n_kv_heads=2, window=8),
    )
    model = model_of(arch)
    tokens = torch.randint(0, VOCAB, (2, 24))
    F.cross_entropy(model(tokens).flatten(0, 1), tokens.roll(-1, 1).flatten()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().max() > 0, name


def test_mamba_initialisation() -> None:
    ssm = SSMSpec(kind="mamba1", d_state=6, dt_min=0.01, dt_max=0.05)
    arch = ArchSpec(layout="MM", d_model=16, vocab_size=VOCAB, ssm=ssm)
    mixer = model_of(arch).blocks[0].mixer
    # S4D-real: A[:, n] = -(n + 1) on every channel
    torch.testing.assert_close(-torch.exp(mixer.A_log), -torch.arange(1.0, 7).expand(32, 6))
    assert (mixer.D == 1).all()
    dt = F.softplus(mixer.dt_proj.bias)
    assert dt.min() >= 0.01 * (1 - 1e-5) and dt.max() <= 0.05 * (1 + 1e-5)
    assert dt.std() > 0  # one time scale per channel

    ssm2 = SSMSpec(kind="mamba2", headdim=4, dt_min=0.002, dt_max=0.02)
    mixer2 = model_of(ArchSpec(layout="M", d_model=16, vocab_size=VOCAB, ssm=ssm2)).blocks[0].mixer
    assert mixer2.A_log.shape == (8,)
    assert ((mixer2.A_log.exp() >= 1) & (mixer2.A_log.exp() <= 16)).all()
    dt2 = F.softplus(mixer2.dt_bias)
    assert dt2.min() >= 0.002 * (1 - 1e-5) and dt2.max() <= 0.02 * (1 + 1e-5)


def test_initial_loss_is_near_uniform() -> None:
    """Small init: the untrained model predicts close to uniformly, loss ~ ln(vocab)."""
    arch = ArchSpec(layout="MFAF", d_model=32, vocab_size=VOCAB, ssm=MAMBA1)
    tokens, targets = torch.randint(0, VOCAB, (2, 4, 32))
    with torch.no_grad():
        loss = F.cross_entropy(model_of(arch)(tokens).flatten(0, 1), targets.flatten())
    assert abs(loss.item() - math.log(VOCAB)) < 0.1


def test_tied_head_shares_the_embedding() -> None:
    tied = model_of(ArchSpec(layout="A", d_model=16, vocab_size=VOCAB))
    untied = model_of(ArchSpec(layout="A", d_model=16, vocab_size=VOCAB, tie_embeddings=False))
    assert tied.lm_head.weight is tied.embedding.weight
    assert untied.lm_head.weight is not untied.embedding.weight


@pytest.mark.parametrize("kind", [MAMBA1, MAMBA2], ids=["mamba1", "mamba2"])
def test_backend_is_recorded_and_used(kind: SSMSpec) -> None:
    arch = ArchSpec(layout="MA", d_model=16, vocab_size=VOCAB, ssm=kind)
    tokens = torch.randint(0, VOCAB, (2, 20))
    fast, slow = model_of(arch, backend="torch"), model_of(arch, backend="reference")
    assert (fast.backend, slow.backend) == ("torch", "reference")
    with torch.no_grad():
        torch.testing.assert_close(fast(tokens), slow(tokens), rtol=1e-4, atol=1e-4)


def test_bad_settings_are_reported() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        build_model(ArchSpec(layout="M"), backend="cuda")
    odd_heads_without_rope = AttentionSpec(n_heads=4, n_kv_heads=4, rope=False)
    build_model(ArchSpec(layout="A", d_model=12, attention=odd_heads_without_rope))


@pytest.mark.slow
@pytest.mark.parametrize("kind", [MAMBA1, MAMBA2], ids=["mamba1", "mamba2"])
def test_tiny_model_memorises_a_batch(kind: SSMSpec) -> None:
    arch = ArchSpec(layout="MA", d_model=32, vocab_size=VOCAB, ssm=kind)
    model = model_of(arch)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, VOCAB, (4, 33), generator=generator)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(150):
        loss = F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2  # from ln(32) = 3.47: the batch is memorised
