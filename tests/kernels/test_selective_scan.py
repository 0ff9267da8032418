"""selective_scan: every backend against the sequential reference, on values and all gradients.

Triton cases run through the interpreter on CPU (tests/conftest.py sets TRITON_INTERPRET=1),
at small fp32 shapes because the interpreter walks every program step by step.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from kernels import selective_scan, selective_scan_step
from kernels._backend import ENV_VAR

NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def make_inputs(
    batch: int = 2,
    dim: int = 8,
    nstate: int = 4,
    length: int = 37,
    groups: int | None = None,
    *,
    D: bool = True,
    z: bool = True,
    bias: bool = True,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Mamba-like inputs: A < 0, delta small; B, C ungrouped (groups=None) or grouped."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen) * scale).to(dtype)

    bc_shape = (batch, nstate, length) if groups is None else (batch, groups, nstate, length)
    inputs = {
        "u": rand(batch, dim, length),
        "delta": (torch.rand(batch, dim, length, generator=gen) * 0.5).to(dtype),
        "A": -torch.exp(rand(dim, nstate, scale=0.5)).to(dtype),
        "B": rand(*bc_shape),
        "C": rand(*bc_shape),
    }
    if D:
        inputs["D"] = rand(dim)
    if z:
        inputs["z"] = rand(batch, dim, length)
    if bias:
        inputs["delta_bias"] = rand(dim, scale=0.5)
    return {name: t.requires_grad_() for name, t in inputs.items()}


def run_with_grads(
    inputs: dict[str, torch.Tensor], backend: str, softplus: bool
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """y, last state, and the grad of every input under a random linear loss on both."""
    y, last = selective_scan(
        **inputs, delta_softplus=softplus, return_last_state=True, backend=backend
    )
    gen = torch.Generator().manual_seed(1)
    loss = (y * torch.randn(y.shape, generator=gen)).sum()
    loss = loss + (last * torch.randn(last.shape, generator=gen)).sum()
    grads = torch.autograd.grad(loss, list(inputs.values()))
    return y, last, dict(zip(inputs, grads, strict=True))


def assert_close(name: str, expected: torch.Tensor, actual: torch.Tensor, tol: float) -> None:
    """Max abs error relative to the largest reference magnitude, as flash-linear-attention does."""
    assert expected.shape == actual.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    error = (expected.float() - actual.float()).abs().max().item()
    scale = max(expected.float().abs().max().item(), 1e-6)
    assert error <= tol * scale, f"{name}: max error {error:.3g} > {tol} * {scale:.3g}"


def check_against_reference(
    backend: str, inputs: dict[str, torch.Tensor], softplus: bool, tol: float = 1e-4
) -> None:
    y_ref, last_ref, grads_ref = run_with_grads(inputs, "reference", softplus)
    y, last, grads = run_with_grads(inputs, backend, softplus)
    assert y.dtype == inputs["u"].dtype and last.dtype == torch.float32
    assert_close("y", y_ref, y, tol)
    assert_close("last_state", last_ref, last, tol)
    for name in inputs:
        assert_close(f"grad {name}", grads_ref[name], grads[name], tol)


# Options: D, z, delta_bias, softplus (each on and off at least once).
OPTIONS = {
    "plain": {"D": False, "z": False, "bias": False, "softplus": False},
    "all": {"D": True, "z": True, "bias": True, "softplus": True},
    "D-z": {"D": True, "z": True, "bias": False, "softplus": False},
    "bias-softplus": {"D": False, "z": False, "bias": True, "softplus": True},
    "softplus-only": {"D": False, "z": True, "bias": False, "softplus": True},
}


def _inputs_for(length: int, groups: int | None, option: str) -> tuple[dict, bool]:
    opts = dict(OPTIONS[option])
    softplus = opts.pop("softplus")
    return make_inputs(length=length, groups=groups, **opts), softplus


# chunk.SUB = 16 and chunk.BLOCK = 128: 1 and 5 are shorter than a sub-chunk, 37 is not a
# multiple of it, 130 and 300 cross block boundaries (300: three blocks, the last one short).
# cpu.CHUNK = 64: 130 and 300 cross chunk boundaries; dim 8 in 8 groups pads each group's one
# channel to a block of 16 lanes.
@pytest.mark.parametrize("length", [1, 5, 37, 130, 300])
@pytest.mark.parametrize("groups", [None, 1, 2, 8])
@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_torch_and_cpu_match_reference(
    backend: str, length: int, groups: int | None, option: str
) -> None:
    inputs, softplus = _inputs_for(length, groups, option)
    check_against_reference(backend, inputs, softplus)


@pytest.mark.parametrize(
    ("dim", "nstate", "groups"),
    [(40, 3, None), (36, 5, 3), (16, 1, 1), (48, 16, None), (32, 16, 2)],
)
def test_cpu_odd_channel_and_state_counts(dim: int, nstate: int, groups: int | None) -> None:
    """Channels per group that are not a multiple of the 16 lanes (40 = 2.5 blocks, 12 per
    group), odd N, a single state, and N = 16 (the kernel's own code path, its state in
    registers)."""
    inputs = make_inputs(batch=3, dim=dim, nstate=nstate, length=70, groups=groups)
    check_against_reference("cpu", inputs, softplus=True)


def test_cpu_reads_channel_major_and_time_major_inputs_alike() -> None:
    """u, delta and z as contiguous (batch, dim, L) tensors (a tiled transpose in C) and as
    transposed views of (batch, L, dim) ones (no copy), as the models pass them."""
    inputs = {k: v.detach() for k, v in make_inputs(dim=32, length=50).items()}
    views = dict(inputs)
    for name in ("u", "delta", "z"):
        views[name] = inputs[name].transpose(1, 2).contiguous().transpose(1, 2)
    assert not views["u"].is_contiguous()
    expected = selective_scan(**inputs, delta_softplus=True, backend="reference")
    for given in (inputs, views):
        actual = selective_scan(**given, delta_softplus=True, backend="cpu")
        assert_close("y", expected, actual, 1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("length", "groups", "option"),
    [
        (1, None, "all"),
        (37, None, "plain"),
        (37, 2, "all"),
        (130, None, "all"),
        (130, 2, "D-z"),
        (70, 4, "bias-softplus"),
        (20, None, "softplus-only"),
    ],
)
def test_triton_matches_reference(length: int, groups: int | None, option: str) -> None:
    inputs, softplus = _inputs_for(length, groups, option)
    check_against_reference("triton", inputs, softplus)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("length", "groups", "per_program", "segments"),
    [
        (100, None, 3, (3, 3)),  # 7 chunks of 16 in segments of 3, 3 and 1
        (70, 2, 2, (2, 3)),  # 5 chunks: segments of 3 and 2
        (37, None, 100, (3, 1)),  # one chunk per segment
    ],
)
def test_triton_time_segments_match_reference(
    monkeypatch: pytest.MonkeyPatch,
    length: int,
    groups: int | None,
    per_program: int,
    segments: tuple[int, int],
) -> None:
    """The parallel-in-time path that CUDA takes for small batches, forced on CPU."""
    fused = importlib.import_module("kernels.selective_scan.fused")
    monkeypatch.setattr(fused, "CHUNK", 16)
    programs = 2 * (groups or 1)  # batch rows x groups x channel blocks (one block of 8 or 4)
    monkeypatch.setattr(fused, "_target_programs", lambda device: per_program * programs)
    assert fused._segments(programs, -(-length // 16), torch.device("cpu")) == segments
    inputs, softplus = _inputs_for(length, groups, "all")
    check_against_reference("triton", inputs, softplus)


@pytest.mark.slow
def test_triton_odd_sizes() -> None:
    """dim per group and N that are not powers of two: masked channel and state lanes."""
    inputs = make_inputs(batch=1, dim=12, nstate=3, length=21, groups=2)
    check_against_reference("triton", inputs, softplus=True)


# Compiles both kernels down to an sm_90 cubin with Triton's bundled ptxas: no GPU needed, and
# it catches what the interpreter lets through (shapes, types, constructs the compiler rejects).
# It runs in a fresh process because TRITON_INTERPRET, set for this suite, turns triton.jit
# into the interpreter when the kernels are defined.
AOT_SCRIPT = textwrap.dedent(
    """
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from kernels.selective_scan import fused

    # pointers in the activation dtype; every other one is an fp32 buffer (A, states, grads)
    ACTIVATIONS = {"u", "delta", "B", "C", "D", "z", "bias", "y", "grad_y", "grad_z"}

    def compile_kernel(fn, activation, constexprs):
        signature = {}
        for name in fn.arg_names:
            if name in constexprs:
                signature[name] = "constexpr"
            elif name.endswith("_ptr"):
                signature[name] = "*" + (activation if name[:-4] in ACTIVATIONS else "fp32")
            else:
                signature[name] = "i32"
        consts = {(fn.arg_names.index(k),): v for k, v in constexprs.items()}
        triton.compile(ASTSource(fn, signature, consts), target=GPUTarget("cuda", 90, 32))

    for activation in ("fp32", "bf16"):
        for on in (True, False):
            flags = dict(HAS_D=on, HAS_Z=on, HAS_BIAS=on, SOFTPLUS=on, CHUNK=64)
            for block_d, block_n in ((16, 16), (2, 128)):
                for local in (True, False):
                    shape = dict(flags, LOCAL=local, BLOCK_D=block_d, BLOCK_N=block_n)
                    compile_kernel(fused._selective_scan_fwd_kernel, activation, shape)
                    compile_kernel(fused._selective_scan_bwd_kernel, activation, shape)
    for reverse in (True, False):
        combine = dict(HAS_INIT=reverse, REVERSE=reverse, BLOCK_D=16, BLOCK_N=16)
        compile_kernel(fused._selective_scan_combine_kernel, "fp32", combine)
    print("compiled")
    """
)


@pytest.mark.slow
def test_triton_kernels_compile_for_a_gpu_without_one() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"  # Triton 3.9 warns when the default is implicit
    done = subprocess.run(
        [sys.executable, "-c", AOT_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "compiled" in done.stdout, done.stderr[-3000:]


def test_reference_follows_the_recurrence_by_hand() -> None:
    """Two steps, one channel, one state: the formula of the docstring written out."""
    u, delta, z = (
        torch.tensor([[[1.0, 2.0]]]),
        torch.tensor([[[0.5, -1.0]]]),
        torch.tensor([[[0.3, -0.7]]]),
    )
    A, B, C = torch.tensor([[-0.8]]), torch.tensor([[[1.5, -0.5]]]), torch.tensor([[[2.0, 0.25]]])
    D, bias = torch.tensor([0.1]), torch.tensor([0.2])
    dt = F.softplus(delta[0, 0] + bias)
    h0 = dt[0] * u[0, 0, 0] * B[0, 0, 0]
    h1 = torch.exp(dt[1] * A[0, 0]) * h0 + dt[1] * u[0, 0, 1] * B[0, 0, 1]
    pre = torch.stack([C[0, 0, 0] * h0, C[0, 0, 1] * h1]) + D * u[0, 0]
    expected = pre * F.silu(z[0, 0])
    for backend in ("reference", "torch", "cpu"):
        y, last = selective_scan(
            u,
            delta,
            A,
            B,
            C,
            D,
            z,
            bias,
            delta_softplus=True,
            return_last_state=True,
            backend=backend,
        )
        torch.testing.assert_close(y[0, 0], expected)
        torch.testing.assert_close(last[0, 0, 0], h1)


def test_groups_map_channels_to_consecutive_blocks() -> None:
    """Channel d reads group d // (dim // G): grouped input equals the expanded ungrouped one."""
    inputs = make_inputs(dim=8, groups=2, D=False, z=False, bias=False)
    plain = {k: v.detach() for k, v in inputs.items()}
    y_grouped = selective_scan(**plain, backend="reference")
    expanded = {
        "B": plain["B"].repeat_interleave(4, dim=1),
        "C": plain["C"].repeat_interleave(4, dim=1),
    }
    for channel in range(8):
        y_channel = selective_scan(
            plain["u"][:, channel : channel + 1],
            plain["delta"][:, channel : channel + 1],
            plain["A"][channel : channel + 1],
            expanded["B"][:, channel],
            expanded["C"][:, channel],
            backend="reference",
        )
        torch.testing.assert_close(y_channel[:, 0], y_grouped[:, channel])


def test_grad_flows_from_last_state_alone() -> None:
    inputs = make_inputs(length=40, D=False, z=False)
    for backend in ("reference", "torch", "cpu"):
        _, last = selective_scan(**inputs, return_last_state=True, backend=backend)
        grads = torch.autograd.grad(last.sum(), [inputs["u"], inputs["A"]])
        if backend == "reference":
            expected = grads
        else:
            for name, want, got in zip(("u", "A"), expected, grads, strict=True):
                assert_close(name, want, got, 1e-4)


@pytest.mark.parametrize("length", [40, 300])
@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_backward_twice_with_retained_graph(backend: str, length: int) -> None:
    """The torch path hands its last block from forward to backward; a second backward
    through a retained graph must recompute it, not reuse what the first one overwrote."""
    inputs = make_inputs(length=length)
    y = selective_scan(**inputs, delta_softplus=True, backend=backend)
    first = torch.autograd.grad(y.sum(), list(inputs.values()), retain_graph=True)
    second = torch.autograd.grad(y.sum(), list(inputs.values()))
    for name, a, b in zip(inputs, first, second, strict=True):
        torch.testing.assert_close(a, b, msg=name)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_returns_y_alone_by_default_and_keeps_dtype(backend: str) -> None:
    inputs = {k: v.detach().to(torch.bfloat16) for k, v in make_inputs(length=19).items()}
    y = selective_scan(**inputs, backend=backend)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16 and y.shape == (2, 8, 19)
    y_ref = selective_scan(**inputs, backend="reference")
    assert_close("bf16 y", y_ref, y, 2e-2)


@pytest.mark.parametrize("backend", ["reference", "torch", "cpu", "triton"])
def test_empty_sequence(backend: str) -> None:
    inputs = make_inputs(length=0)
    y, last = selective_scan(**inputs, return_last_state=True, backend=backend)
    assert y.shape == (2, 8, 0) and torch.equal(last, torch.zeros(2, 8, 4))
    (grad_u,) = torch.autograd.grad((y.sum() + last.sum()), [inputs["u"]])
    assert grad_u.shape == (2, 8, 0)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_long_decays_stay_finite(backend: str) -> None:
    """Large delta * |A| (decays far below fp32's range over a block) must not overflow."""
    inputs = {k: v.detach() for k, v in make_inputs(length=300).items()}
    inputs["delta"] = inputs["delta"] * 200.0
    y_ref = selective_scan(**inputs, backend="reference")
    y = selective_scan(**inputs, backend=backend)
    assert torch.isfinite(y).all()
    assert_close("y", y_ref, y, 1e-4)


@pytest.mark.parametrize("groups", [None, 2])
def test_step_repeats_the_scan(groups: int | None) -> None:
    inputs = {k: v.detach() for k, v in make_inputs(length=23, groups=groups).items()}
    y_scan, last = selective_scan(
        **inputs, delta_softplus=True, return_last_state=True, backend="reference"
    )
    state = torch.zeros(2, 8, 4)
    ys = []
    for t in range(23):
        y, state = selective_scan_step(
            state,
            inputs["u"][..., t],
            inputs["delta"][..., t],
            inputs["A"],
            inputs["B"][..., t],
            inputs["C"][..., t],
            inputs["D"],
            inputs["z"][..., t],
            inputs["delta_bias"],
            delta_softplus=True,
        )
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys, dim=-1), y_scan, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state, last, rtol=1e-5, atol=1e-5)


def test_step_keeps_state_dtype() -> None:
    state = torch.zeros(1, 4, 3, dtype=torch.bfloat16)
    y, new = selective_scan_step(
        state,
        torch.randn(1, 4),
        torch.rand(1, 4),
        -torch.rand(4, 3),
        torch.randn(1, 3),
        torch.randn(1, 3),
    )
    assert y.dtype == torch.float32 and new.dtype == torch.bfloat16 and new.shape == (1, 4, 3)


# ---- bad input -------------------------------------------------------------------------


def _plain() -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in make_inputs(length=9).items()}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "delta",
            torch.rand(2, 8, 10),
            r"delta has shape \(2, 8, 10\), expected \(batch, dim, L\) = \(2, 8, 9\)",
        ),
        ("A", torch.rand(8), r"A must be a tensor of shape \(dim, N\)"),
        ("A", torch.rand(7, 4), r"A has shape \(7, 4\), expected \(dim, N\) = \(8, 4\)"),
        (
            "B",
            torch.rand(2, 5, 9),
            r"B has shape \(2, 5, 9\), expected \(batch, N, L\) or \(batch, G, N, L\)",
        ),
        ("C", torch.rand(2, 3, 4, 9), r"C has 3 groups, which must divide dim = 8"),
        ("D", torch.rand(9), r"D has shape \(9,\), expected \(dim,\)"),
        ("z", torch.rand(2, 8), r"z has shape \(2, 8\), expected \(batch, dim, L\)"),
        ("delta_bias", torch.rand(1, 8), r"delta_bias has shape \(1, 8\), expected \(dim,\)"),
    ],
)
def test_bad_shape_names_argument_and_expected_shape(
    name: str, value: torch.Tensor, message: str
) -> None:
    inputs = _plain()
    inputs[name] = value
    with pytest.raises(ValueError, match=f"selective_scan: {message}"):
        selective_scan(**inputs)


def test_bad_u_and_mismatched_groups() -> None:
    inputs = _plain()
    with pytest.raises(ValueError, match=r"u must be a tensor of shape \(batch, dim, L\)"):
        selective_scan(**{**inputs, "u": inputs["u"][0]})
    with pytest.raises(ValueError, match="B has 1 groups but C has 2"):
        selective_scan(**{**inputs, "C": torch.rand(2, 2, 4, 9)})


def test_bad_dtype_and_device() -> None:
    inputs = _plain()
    with pytest.raises(TypeError, match=r"delta has dtype torch.int64, expected float32"):
        selective_scan(**{**inputs, "delta": torch.ones(2, 8, 9, dtype=torch.long)})
    with pytest.raises(ValueError, match="B is on meta, expected cpu"):
        selective_scan(**{**inputs, "B": inputs["B"].to("meta")})
    with pytest.raises(TypeError, match=r"D must be a torch\.Tensor"):
        selective_scan(**{**inputs, "D": [1.0] * 8})


def test_bad_step_input() -> None:
    state = torch.zeros(2, 8, 4)
    u, delta, A, B = torch.randn(2, 8), torch.rand(2, 8), -torch.rand(8, 4), torch.randn(2, 4)
    with pytest.raises(
        ValueError, match=r"selective_scan_step: state must be a tensor of shape \(batch, dim, N\)"
    ):
        selective_scan_step(state[0], u, delta, A, B, B)
    with pytest.raises(
        ValueError, match=r"selective_scan_step: u has shape \(2, 7\), expected \(batch, dim\)"
    ):
        selective_scan_step(state, u[:, :7], delta, A, B, B)
    with pytest.raises(ValueError, match=r"selective_scan_step: C has shape \(2, 5\)"):
        selective_scan_step(state, u, delta, A, B, torch.randn(2, 5))


def test_bad_backend_string() -> None:
    with pytest.raises(
        ValueError, match="backend must be one of auto, triton, cpu, torch, reference, got 'cuda'"
    ):
        selective_scan(**_plain(), backend="cuda")


def test_env_var_forces_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # the package, not the function that kernels/__init__ re-exports under the same name
    scan_module = importlib.import_module("kernels.selective_scan")
    calls: list[str] = []
    for name, backend in (("naive", "reference"), ("chunk", "torch"), ("cpu", "cpu")):
        real = getattr(scan_module, f"selective_scan_{name}")
        monkeypatch.setattr(
            scan_module,
            f"selective_scan_{name}",
            lambda *a, real=real, backend=backend: calls.append(backend) or real(*a),
        )
    selective_scan(**_plain())  # auto on CPU: the C kernels, a compiler being on this machine
    monkeypatch.setenv(ENV_VAR, "reference")
    selective_scan(**_plain())
    selective_scan(**_plain(), backend="torch")  # an explicit backend wins over the variable
    assert calls == ["cpu", "reference", "torch"]
    monkeypatch.setenv(ENV_VAR, "fast")
    with pytest.raises(ValueError, match=f"{ENV_VAR}='fast' is not a backend"):
        selective_scan(**_plain())


def test_auto_falls_back_to_torch_without_a_compiler(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """No C compiler (CC names none, PATH has no cc, gcc or clang): auto runs the torch path,
    and asking for cpu explicitly says why it cannot."""
    script = textwrap.dedent(
        """
        import torch
        from kernels import resolve_backend, selective_scan
        print(resolve_backend("auto", torch.device("cpu")))
        try:
            resolve_backend("cpu", torch.device("cpu"))
        except ValueError as exc:
            print(exc)
        """
    )
    env = {**os.environ, "PATH": str(tmp_path), "CC": "", "NAS_KERNEL_CACHE": str(tmp_path)}
    env.pop("NAS_KERNEL_BACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    chosen, message = done.stdout.splitlines()
    assert chosen == "torch"
    assert message == (
        "the cpu backend cannot be built here (no C compiler found (set CC, or install gcc or "
        "clang)); use backend='torch'"
    )


def test_cpu_backend_needs_cpu_tensors() -> None:
    from kernels import resolve_backend

    with pytest.raises(ValueError, match="the cpu backend needs CPU tensors, got cuda tensors"):
        resolve_backend("cpu", torch.device("cuda"))


def test_triton_on_cpu_needs_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(
        ValueError, match="the triton backend needs CUDA tensors, or TRITON_INTERPRET=1"
    ):
        selective_scan(**_plain(), backend="triton")
