"""What each column of the trials frame means, and its type, for ``nas db columns``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nas.db._fold import N_TRIALS

if TYPE_CHECKING:
    import pandas as pd

# Columns whose meaning does not depend on the study (objectives, tasks and parameters do).
MEANINGS = {
    "number": "the trial's number in its study (Optuna's)",
    "state": "COMPLETE, PRUNED (diverged, stopped early, or infeasible), FAIL, RUNNING or WAITING",
    N_TRIALS: "trials this row stands for: an architecture tried several times is one row",
    "arch_hash": "the architecture's hash: equal architectures have equal hashes",
    "layout": "canonical layer string: M SSM, A attention, F MLP",
    "family": "ssm, attention or hybrid",
    "ratio": "SSM:attention mixer layers, reduced (3:1; 1:0 pure SSM, 0:1 pure attention)",
    "attention_fraction": "attention layers / mixer layers",
    "n_layers": "mixer layers (M and A)",
    "n_ssm": "SSM layers",
    "n_attention": "attention layers",
    "n_mlp": "MLP blocks",
    "d_model": "model width",
    "vocab_size": "vocabulary size",
    "ssm_kind": "mamba1 or mamba2",
    "d_state": "SSM state size N (empty without SSM layers)",
    "params": "parameters, exactly as the built model counts them",
    "non_embedding_params": "parameters but the token embedding and an untied head",
    "expand": "SSM inner width / d_model",
    "d_conv": "SSM causal convolution width",
    "headdim": "Mamba-2 head dimension",
    "ngroups": "Mamba-2 groups of B and C",
    "dt_rank": "Mamba-1 rank of the dt projection",
    "n_heads": "attention heads",
    "n_kv_heads": "key/value heads (GQA when fewer than n_heads)",
    "window": "sliding attention window (empty: global)",
    "mlp_kind": "swiglu or gelu",
    "d_ff": "MLP hidden width",
    "tie_embeddings": "whether the output head shares the embedding",
    "spec_json": "the whole architecture as canonical ArchSpec JSON",
    "train_flops_per_token": "training FLOPs per token at seq_len (3 x forward)",
    "prefill_flops": "FLOPs to read a prompt of context tokens",
    "decode_flops_per_token": "FLOPs per generated token after context tokens",
    "state_bytes": "decode state at context tokens: KV cache + SSM state (bf16)",
    "seq_len": "sequence length of the compute figures",
    "context": "context length of the prefill, decode and state figures",
    "n_evaluations": "evaluations (task x seed) recorded for the trial",
    "n_seeds": "distinct seeds among them",
    "eval_wall_s": "seconds of training and scoring, all evaluations",
    "tokens_per_s": "measured training tokens per second (mean)",
    "peak_memory_bytes": "peak memory of a training run (max)",
    "device": "where it trained (cpu, cuda)",
    "backend": "scan kernel backend (torch, triton, reference)",
    "fidelity": "the fidelity level the trial reached (multi-fidelity studies)",
    "budget_hash": "hash of the training budget: equal budgets share cached evaluations",
    "cached": "true when every evaluation came from the database, none trained",
    "duplicate_of": "the earlier trial of the same architecture whose outcome was copied",
    "fail_reason": "why the trial failed or was pruned",
    "evaluation_ids": "the trial's rows in the evaluations table",
    "baseline": "enqueued from the study's baselines",
    "datetime_start": "when the trial started (UTC)",
    "datetime_complete": "when it finished (UTC)",
    "duration_s": "seconds from start to finish",
}


def describe(
    names: Sequence[str], sample: pd.DataFrame, objectives: Mapping[str, str]
) -> pd.DataFrame:
    """One row per column of ``names``: its type (read off ``sample``, some of the study's
    rows) and its meaning."""
    import pandas as pd

    rows = [(name, _type(sample[name]) if name in sample else "", _meaning(name, objectives))
            for name in names]  # fmt: skip
    return pd.DataFrame(rows, columns=["column", "type", "meaning"])


def _meaning(name: str, objectives: Mapping[str, str]) -> str:
    goal = objectives.get(name)
    prefix = f"objective, {goal[:3]}imized" if goal else ""
    if name in MEANINGS:
        return f"{prefix}: {MEANINGS[name]}" if prefix else MEANINGS[name]
    if name == "capability":
        return f"{prefix}: weighted mean capability over the study's tasks, in [0, 1]"
    if name.startswith("cap."):
        return f"capability on task {name[4:]}, mean over seeds, in [0, 1]"
    if name.startswith("gap."):
        return f"filler gap on task {name[4:]}: clean minus with-filler capability"
    if name.startswith("params_"):
        return f"the value Optuna sampled for {name[7:]}"
    if name.startswith("user_attrs_"):
        return f"the trial's user attribute {name[11:]}"
    return prefix or "a user attribute of the trial"


def _type(series: pd.Series) -> str:
    kind = series.dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iu" or str(series.dtype) == "Int64":
        return "integer"
    if kind == "f":
        return "number"
    if kind == "M":
        return "time"
    given = series.dropna()
    first: Any = given.iloc[0] if len(given) else None
    if isinstance(first, bool):
        return "boolean"
    if isinstance(first, list):
        return "list"
    if isinstance(first, dict):
        return "object"
    if isinstance(first, int | float):
        return "number"
    return "text"
