"""The throughput benchmark runs end to end and writes its figures (no timing asserted)."""

from __future__ import annotations

import json

from nas.proxy import bench


def test_bench_writes_one_row_per_reference(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    argv = [
        "--steps",
        "1",
        "--batch-size",
        "1",
        "--seq-len",
        "8",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    assert bench.main(argv) == 0
    data = json.loads(out.read_text())
    assert [row["name"] for row in data["results"]] == list(bench.REFERENCES)
    assert all(row["status"] == "ok" and row["tokens_per_s"] > 0 for row in data["results"])
    assert data["setting"]["task"] == "byte_lm:seq_len=8"
    assert "hybrid 3:1" in capsys.readouterr().out
