"""``nas bench train`` runs end to end and writes its figures (tiny sizes, no timing asserted)."""

from __future__ import annotations

import json

import pytest

from nas.models import build_model
from nas.proxy import bench


def test_bench_measures_every_family_against_attention_and_mambapy(
    tmp_path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "BATCH", 2)
    monkeypatch.setattr(bench, "SEQ_LEN", 8)
    monkeypatch.setattr(bench, "WARMUP", 1)
    monkeypatch.setattr(bench, "QUICKSTART", ("attention", "mamba2"))
    monkeypatch.setattr(bench, "QUICKSTART_STEPS", 2)
    monkeypatch.setattr(
        bench, "QUICKSTART_TASKS", ("byte_lm:seq_len=8", "mqar:num_kv_pairs=2,seq_len=16")
    )
    out = tmp_path / "bench.json"
    assert bench.main(["--steps", "1", "--threads", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    issue = [row for row in data["throughput"] if row["shape"] == "issue"]
    assert [row["name"] for row in issue] == [*bench.FAMILIES, "mambapy"]
    by_name = {row["name"]: row for row in issue}
    assert all(row["tokens_per_s"] > 0 and row["warmup_s"] > 0 for row in issue)
    assert "vs_attention" not in by_name["attention"] and by_name["mamba2"]["vs_attention"] > 0
    assert by_name["mamba1 MMMM"]["vs_mambapy"] > 0 and by_name["mambapy"]["backend"] == "mambapy"
    assert [name for name, row in by_name.items() if "vs_mambapy" in row] == ["mamba1 MMMM"]
    assert "vs_attention" not in by_name["mambapy"]  # not the same model: no ratio
    assert by_name["mamba1"]["backend"] == "cpu"  # auto on CPU, a compiler being here
    quick = [
        (row["shape"], row["seq_len"], row["name"]) for row in data["throughput"][len(issue) :]
    ]
    assert quick == [
        (f"quickstart {task}", length, name)
        for task, length in (("byte_lm", 8), ("mqar", 16))
        for name in ("attention", "mamba2")
    ]
    e2e = {(row["name"], row["backend"]): row for row in data["end_to_end"]}
    assert set(e2e) == {
        (n, b) for n in ("attention", "mamba2") for b in ("cpu", "cpu warm", "torch")
    }
    assert all(row["wall_s"] > row["train_s"] > 0 for row in e2e.values())
    assert e2e[("mamba2", "cpu")]["speedup_wall"] > 0
    printed = capsys.readouterr().out
    assert "Proxy training tokens/s" in printed and "End to end: nas train" in printed


def test_mambapy_lm_has_the_mixers_of_ours() -> None:
    """The mambapy row is a like-for-like model: its Mamba blocks hold as many parameters as
    our MMMM's blocks (embedding and head aside: mambapy does not tie them)."""
    arch = bench.FAMILIES["mamba1 MMMM"]
    theirs = bench.mambapy_lm(arch).mamba
    ours = build_model(arch).blocks
    assert sum(p.numel() for p in theirs.parameters()) == sum(p.numel() for p in ours.parameters())
