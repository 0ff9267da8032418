"""ssd and ssd_step: every backend against the sequential reference, on values and all gradients.

Triton cases run through the interpreter on CPU (tests/conftest.py sets TRITON_INTERPRET=1),
at small fp32 shapes because the interpreter walks every program step by step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kernels import ssd, ssd_step

NAMES = ("x", "dt", "A", "B", "C", "D", "z", "dt_bias", "initial_states")


def make_inputs(
    batch: int = 2,
    length: int = 37,
    heads: int = 4,
    headdim: int = 8,
    groups: int = 1,
    nstate: int = 16,
    *,
    D: str | None = "h",
    z: bool = True,
    bias: bool = True,
    softplus: bool = True,
    initial: bool = True,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Mamba-2-like fp32 inputs: A < 0; dt raw (softplus) or positive; D of shape (h,) or (h, p)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    raw_dt = rand(batch, length, heads, scale=0.5) - 1.0
    inputs = {
        "x": rand(batch, length, heads, headdim),
        "dt": raw_dt if softplus else F.softplus(raw_dt),
        "A": -torch.exp(rand(heads, scale=0.5)),
        "B": rand(batch, length, groups, nstate),
        "C": rand(batch, length, groups, nstate),
    }
    if D is not None:
        inputs["D"] = rand(heads) if D == "h" else rand(heads, headdim)
    if z:
        inputs["z"] = rand(batch, length, heads, headdim)
    if bias:  # without softplus, a positive bias keeps dt > 0
        inputs["dt_bias"] = rand(heads, scale=0.5) if softplus else rand(heads).abs() * 0.5
    if initial:
        inputs["initial_states"] = rand(batch, heads, headdim, nstate)
    return {name: t.requires_grad_() for name, t in inputs.items()}


def run_with_grads(
    inputs: dict[str, torch.Tensor], backend: str, chunk: int, softplus: bool, final: bool
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """y, final states, and the grad of every input under a random linear loss on y (and on
    the final states when ``final``)."""
    y, last = ssd(
        **inputs,
        chunk_size=chunk,
        dt_softplus=softplus,
        return_final_states=True,
        backend=backend,
    )
    gen = torch.Generator().manual_seed(1)
    loss = (y * torch.randn(y.shape, generator=gen)).sum()
    if final:
        loss = loss + (last * torch.randn(last.shape, generator=gen)).sum()
    grads = torch.autograd.grad(loss, list(inputs.values()))
    return y, last, dict(zip(inputs, grads, strict=True))


def assert_close(name: str, expected: torch.Tensor, actual: torch.Tensor, tol: float) -> None:
    """Max abs error relative to the largest reference magnitude, as flash-linear-attention does."""
    assert expected.shape == actual.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    error = (expected.float() - actual.float()).abs().max().item()
    scale = max(expected.float().abs().max().item(), 0.1)  # a grad of 0 leaves rounding noise
    assert error <= tol * scale, f"{name}: max error {error:.3g} > {tol} * {scale:.3g}"


# (length, chunk, groups, options): 1, 37 and 130 steps; L < chunk (37 / 64, 1 / 16), L not a
# multiple of the chunk (37 / 16, 130 / 32), a chunk that is not a power of two (37 / 24);
# groups 1, 2 and 4 of 4 heads; D absent, (h,) and (h, p); z, dt_bias, softplus, initial and
# final states each on and off.
CASES = {
    "L1-all": (1, 16, 2, {"D": "h"}),
    "L1-plain": (1, 16, 1, dict(D=None, z=False, bias=False, softplus=False, initial=False)),
    "L37-all": (37, 16, 2, {"D": "h"}),
    "L37-shortseq": (37, 64, 4, dict(D="hp", bias=False, initial=False)),
    "L37-oddchunk": (37, 24, 1, dict(D=None, z=False, softplus=False)),
    "L130-all": (130, 32, 2, {"D": "hp"}),
    "L130-nofinal": (130, 32, 4, dict(D=None, z=False, bias=False, initial=False, final=False)),
}


def check_case(backend: str, case: str) -> None:
    length, chunk, groups, options = CASES[case]
    options = dict(options)
    final = options.pop("final", True)
    softplus = options.get("softplus", True)
    inputs = make_inputs(length=length, groups=groups, **options)
    y_ref, last_ref, grads_ref = run_with_grads(inputs, "reference", chunk, softplus, final)
    y, last, grads = run_with_grads(inputs, backend, chunk, softplus, final)
    assert y.dtype == torch.float32 and y.is_contiguous() and last.dtype == torch.float32
    assert_close("y", y_ref, y, 1e-5)
    assert_close("final_states", last_ref, last, 1e-5)
    for name in inputs:
        assert_close(f"grad {name}", grads_ref[name], grads[name], 5e-5)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_torch_and_cpu_match_reference(backend: str, case: str) -> None:
    check_case(backend, case)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_triton_matches_reference(case: str) -> None:
    check_case("triton", case)


@pytest.mark.parametrize("backend", ["torch", "cpu", "triton"])
def test_odd_head_and_state_sizes(backend: str) -> None:
    """p and n that are not powers of two (masked lanes), one head per group, and a chunk of
    four row tiles (Triton tiles a chunk in 32 rows once the (p, n) tile is this large)."""
    inputs = make_inputs(batch=1, length=150, heads=2, headdim=36, groups=2, nstate=72, D="hp")
    y_ref, last_ref, grads_ref = run_with_grads(inputs, "reference", 100, True, True)
    y, last, grads = run_with_grads(inputs, backend, 100, True, True)
    assert_close("y", y_ref, y, 1e-5)
    assert_close("final_states", last_ref, last, 1e-5)
    for name in inputs:
        assert_close(f"grad {name}", grads_ref[name], grads[name], 5e-5)


@pytest.mark.parametrize("backend", ["torch", "cpu", "triton"])
def test_strided_inputs(backend: str) -> None:
    """Views with odd strides (a transposed x, every other element of A and D) read right."""
    inputs = {k: v.detach() for k, v in make_inputs(D="hp").items()}
    strided = dict(inputs)
    strided["x"] = inputs["x"].transpose(1, 2).contiguous().transpose(1, 2)
    strided["A"] = inputs["A"].repeat_interleave(2)[::2]
    strided["D"] = inputs["D"].t().contiguous().t()
    strided["dt_bias"] = inputs["dt_bias"].repeat_interleave(2)[::2]
    assert not strided["x"].is_contiguous() and not strided["A"].is_contiguous()
    expected = ssd(**inputs, chunk_size=16, dt_softplus=True, backend="reference")
    actual = ssd(**strided, chunk_size=16, dt_softplus=True, backend=backend)
    assert_close("y", expected, actual, 1e-5)


@pytest.mark.parametrize("backend", ["torch", "cpu", "triton"])
def test_chunked_backends_clamp_growth(backend: str) -> None:
    """A > 0 would make exp(cum_i - cum_j) overflow; the chunked backends clamp each step's
    dt * A at 0, which makes A > 0 act as A = 0 instead."""
    inputs = {k: v.detach() for k, v in make_inputs(length=130).items()}
    expected = ssd(**{**inputs, "A": torch.zeros(4)}, chunk_size=32, dt_softplus=True)
    actual = ssd(
        **{**inputs, "A": torch.full((4,), 50.0)}, chunk_size=32, dt_softplus=True, backend=backend
    )
    assert torch.isfinite(actual).all()
    assert_close("y", expected, actual, 1e-5)


def test_reference_follows_the_recurrence_by_hand() -> None:
    """Two steps, one head, p = 1, n = 2: the formula of the docstring written out."""
    x = torch.tensor([1.0, -2.0]).reshape(1, 2, 1, 1)
    raw_dt = torch.tensor([0.3, -0.4]).reshape(1, 2, 1)
    A, D, bias = torch.tensor([-0.7]), torch.tensor([0.5]), torch.tensor([0.1])
    B = torch.tensor([[1.0, 2.0], [-1.0, 0.5]]).reshape(1, 2, 1, 2)
    C = torch.tensor([[0.5, -1.0], [2.0, 1.0]]).reshape(1, 2, 1, 2)
    z = torch.tensor([0.2, -1.5]).reshape(1, 2, 1, 1)
    S0 = torch.tensor([0.3, -0.2]).reshape(1, 1, 1, 2)
    dt = F.softplus(raw_dt.flatten() + bias)
    xs, Bs, Cs, zs = x.flatten(), B.reshape(2, 2), C.reshape(2, 2), z.flatten()
    S1 = torch.exp(dt[0] * A) * S0.flatten() + dt[0] * xs[0] * Bs[0]
    S2 = torch.exp(dt[1] * A) * S1 + dt[1] * xs[1] * Bs[1]
    pre = torch.stack([S1 @ Cs[0], S2 @ Cs[1]]) + D * xs
    expected = pre * F.silu(zs)
    for backend in ("reference", "torch", "cpu", "triton"):
        y, last = ssd(
            x, raw_dt, A, B, C, 16, D, z, bias, True, S0, True, backend=backend
        )  # fmt: skip
        torch.testing.assert_close(y.flatten(), expected)
        torch.testing.assert_close(last.flatten(), S2)


def test_groups_map_heads_to_consecutive_blocks() -> None:
    """Head h reads group h // (heads // g): grouped B, C equal the same B, C repeated per head."""
    inputs = {k: v.detach() for k, v in make_inputs(groups=2, D=None, z=False).items()}
    y_grouped = ssd(**inputs, chunk_size=16, dt_softplus=True, backend="reference")
    per_head = dict(inputs)
    per_head["B"] = inputs["B"].repeat_interleave(2, dim=2)
    per_head["C"] = inputs["C"].repeat_interleave(2, dim=2)
    y_heads = ssd(**per_head, chunk_size=16, dt_softplus=True, backend="reference")
    torch.testing.assert_close(y_grouped, y_heads)


def test_chunked_path_saves_no_full_state_sequence() -> None:
    """The torch path never keeps a (b, L, h, p, n) tensor for the backward: what autograd
    saves is per chunk, at most (b, L, h, Q) for the decay matrices."""
    batch, length, heads, headdim, nstate, chunk = 1, 512, 2, 16, 32, 32
    inputs = make_inputs(batch, length, heads, headdim, 1, nstate)
    largest = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal largest
        largest = max(largest, t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        ssd(**inputs, chunk_size=chunk, dt_softplus=True, backend="torch")
    assert largest <= batch * length * heads * chunk
    assert largest * 8 <= batch * length * heads * headdim * nstate


@pytest.mark.parametrize("D_shape", ["h", "hp"])
def test_steps_reproduce_the_scan(D_shape: str) -> None:
    """ssd_step applied L times from the initial states gives ssd's outputs and final states."""
    inputs = {k: v.detach() for k, v in make_inputs(groups=2, D=D_shape).items()}
    y_scan, last_scan = ssd(
        **inputs, chunk_size=16, dt_softplus=True, return_final_states=True, backend="torch"
    )
    state = inputs["initial_states"]
    ys = []
    for t in range(inputs["x"].shape[1]):
        y_t, state = ssd_step(
            state,
            inputs["x"][:, t],
            inputs["dt"][:, t],
            inputs["A"],
            inputs["B"][:, t],
            inputs["C"][:, t],
            D=inputs["D"],
            z=inputs["z"][:, t],
            dt_bias=inputs["dt_bias"],
            dt_softplus=True,
        )
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, dim=1), y_scan, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(state, last_scan, rtol=1e-4, atol=1e-5)


def test_step_keeps_dtypes_and_is_differentiable() -> None:
    """y in x's dtype, the new state in the state's dtype; grads reach every input."""
    b, h, p, g, n = 2, 4, 8, 2, 16
    state = torch.randn(b, h, p, n, dtype=torch.bfloat16, requires_grad=True)
    x = torch.randn(b, h, p, requires_grad=True)
    dt, A = torch.rand(b, h, requires_grad=True), (-torch.rand(h)).requires_grad_()
    B, C = torch.randn(b, g, n, requires_grad=True), torch.randn(b, g, n, requires_grad=True)
    y, new = ssd_step(state, x, dt, A, B, C)
    assert y.dtype == torch.float32 and new.dtype == torch.bfloat16
    assert y.shape == (b, h, p) and new.shape == (b, h, p, n)
    grads = torch.autograd.grad(y.sum() + new.float().sum(), [state, x, dt, A, B, C])
    assert all(grad.abs().sum() > 0 for grad in grads)


def test_half_precision_inputs_on_the_torch_path() -> None:
    """bf16 inputs: y comes back in bf16, close to the fp32 result; final states stay fp32."""
    inputs = {k: v.detach() for k, v in make_inputs().items()}
    y32, last32 = ssd(**inputs, chunk_size=16, dt_softplus=True, return_final_states=True)
    half = {k: v.bfloat16() for k, v in inputs.items()}
    y16, last16 = ssd(**half, chunk_size=16, dt_softplus=True, return_final_states=True)
    assert y16.dtype == torch.bfloat16 and last16.dtype == torch.float32
    assert_close("y", y32, y16, 0.05)
    assert_close("final_states", last32, last16, 0.05)


# -- bad input ------------------------------------------------------------------------------


def _arguments() -> dict[str, object]:
    args: dict[str, object] = {
        k: v.detach() for k, v in make_inputs(length=5, D="h", softplus=False).items()
    }
    args["chunk_size"] = 16
    return args


BAD_SSD = {
    "x-3d": ("x", torch.zeros(2, 5, 4), r"ssd: x must be a tensor of shape \(b, L, h, p\)"),
    "dt-shape": ("dt", torch.zeros(2, 5, 3), r"dt has shape \(2, 5, 3\), expected \(b, L, h\)"),
    "A-shape": ("A", torch.zeros(4, 16), r"A has shape \(4, 16\), expected \(h,\) = \(4,\)"),
    "B-groups": ("B", torch.zeros(2, 5, 3, 16), r"B has g = 3 groups, which must divide h = 4"),
    "C-shape": ("C", torch.zeros(2, 5, 1, 8), r"C has shape \(2, 5, 1, 8\), expected \(b, L, g"),
    "D-shape": ("D", torch.zeros(4, 9), r"D has shape \(4, 9\), expected \(h,\) or \(h, p\)"),
    "z-shape": ("z", torch.zeros(2, 5, 4), r"z has shape \(2, 5, 4\), expected \(b, L, h, p\)"),
    "bias-shape": ("dt_bias", torch.zeros(2), r"dt_bias has shape \(2,\), expected \(h,\)"),
    "initial-shape": (
        "initial_states",
        torch.zeros(2, 4, 8, 15),
        r"initial_states has shape \(2, 4, 8, 15\), expected \(b, h, p, n\) = \(2, 4, 8, 16\)",
    ),
    "x-dtype": ("x", torch.zeros(2, 5, 4, 8, dtype=torch.int64), r"x has dtype torch.int64"),
    "dt-device": ("dt", torch.zeros(2, 5, 4, device="meta"), r"dt is on meta, expected cpu"),
    "chunk-zero": ("chunk_size", 0, r"chunk_size must be a positive int, got 0"),
    "backend": ("backend", "cuda", r"backend must be one of"),
}


@pytest.mark.parametrize("case", list(BAD_SSD))
def test_ssd_rejects_bad_input_naming_the_argument(case: str) -> None:
    name, value, message = BAD_SSD[case]
    args = _arguments()
    args[name] = value
    with pytest.raises((ValueError, TypeError), match=message):
        ssd(**args)  # type: ignore[arg-type]


BAD_STEP = {
    "state-3d": ("state", torch.zeros(2, 4, 8), r"ssd_step: state must be a tensor of shape"),
    "x-shape": ("x", torch.zeros(2, 4), r"x has shape \(2, 4\), expected \(b, h, p\)"),
    "dt-shape": ("dt", torch.zeros(2, 4, 1), r"dt has shape \(2, 4, 1\), expected \(b, h\)"),
    "B-nstate": (
        "B",
        torch.zeros(2, 1, 8),
        r"B has shape \(2, 1, 8\), expected \(b, g, n\) = \(2, 1, 16\)",
    ),
    "D-shape": ("D", torch.zeros(5), r"D has shape \(5,\), expected \(h,\) or \(h, p\)"),
}


@pytest.mark.parametrize("case", list(BAD_STEP))
def test_ssd_step_rejects_bad_input_naming_the_argument(case: str) -> None:
    name, value, message = BAD_STEP[case]
    args: dict[str, object] = {
        "state": torch.zeros(2, 4, 8, 16),
        "x": torch.zeros(2, 4, 8),
        "dt": torch.zeros(2, 4),
        "A": torch.zeros(4),
        "B": torch.zeros(2, 1, 16),
        "C": torch.zeros(2, 1, 16),
    }
    args[name] = value
    with pytest.raises((ValueError, TypeError), match=message):
        ssd_step(**args)  # type: ignore[arg-type]


# -- the Triton kernels compile for a GPU ---------------------------------------------------

# Run in a fresh interpreter: under TRITON_INTERPRET=1 (this process) Triton cannot compile.
# Pointers named in CALLER_DTYPE carry the caller's dtype; the others are fp32 work buffers.
COMPILE_FOR_HOPPER = """
import json, sys
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from kernels.ssd import triton as ssd_kernels

dtype = sys.argv[1]
CALLER_DTYPE = {"x", "z", "B", "C", "D", "A", "dt", "bias", "init", "dout", "out", "dx", "dz"}
blocks = ssd_kernels._blocks(256, 64, 128)
options = {k: blocks.pop(k) for k in ("num_warps", "num_stages")}
constants = {**blocks, "BLOCK_Q": 256, "BLOCK": ssd_kernels.STATE_BLOCK,
             "PRECISION": "ieee" if dtype == "fp32" else "tf32"}
shared = {}
for name in ("_dt_fwd", "_chunk_state_fwd", "_state_pass_fwd", "_chunk_scan_fwd",
             "_chunk_scan_bwd_rows", "_state_pass_bwd", "_chunk_scan_bwd_cols", "_dt_bwd"):
    fn = getattr(ssd_kernels, name)
    signature, constexprs = {}, {}
    for param in fn.params:
        if param.is_constexpr:  # options on (HAS_D, SOFTPLUS, ...) and the tile sizes
            signature[param.name] = "constexpr"
            constexprs[param.name] = constants.get(param.name, True)
        elif param.name.endswith("_ptr"):
            signature[param.name] = "*" + (dtype if param.name[:-4] in CALLER_DTYPE else "fp32")
        else:
            signature[param.name] = "i32"
    compiled = triton.compile(ASTSource(fn, signature, constexprs),
                              target=GPUTarget("cuda", 90, 32), options=options)
    shared[name] = compiled.metadata.shared
print(json.dumps(shared))
"""


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_triton_kernels_compile_for_hopper(dtype: str, tmp_path) -> None:
    """Every kernel, with every option on and the largest tiles (p = 64, n = 128), compiles
    ahead of time for sm_90 through ptxas, no GPU needed, within 99 KiB of shared memory."""
    triton = pytest.importorskip("triton")
    if "nvidia" not in triton.backends.backends:
        pytest.skip("this Triton build has no NVIDIA backend")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path)  # compile for real, not from an earlier cache
    done = subprocess.run(
        [sys.executable, "-c", COMPILE_FOR_HOPPER, dtype],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    shared = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(shared) == 8
    for name, size in shared.items():
        assert size <= 99 * 1024, f"{name} needs {size} bytes of shared memory"
