"""What ``nas run`` prints besides progress: the chance-level lines under the front."""

from __future__ import annotations

import pandas as pd

from nas.study import chance_lines
from nas.tasks import get_task

MQAR = get_task("mqar:num_kv_pairs=2,seq_len=16,vocab_size=16").spec  # chance 1/8
BYTES = get_task("byte_lm:seq_len=64").spec  # chance 0: no better than byte frequencies


def scores(mqar: list[float], byte_lm: list[float]) -> pd.DataFrame:
    rows = [
        (number, task, label, 0, capability, positions)
        for task, label, values, positions in (
            (MQAR, "mqar", mqar, 128),
            (BYTES, "byte_lm", byte_lm, 4096),
        )
        for number, capability in enumerate(values)
    ]
    return pd.DataFrame(
        rows, columns=["number", "task", "label", "seed", "capability", "positions"]
    )


def test_tasks_at_chance_are_named_with_their_architectures() -> None:
    lines = chance_lines(scores([0.12, 0.5, 0.14, 0.45], [0.3, 0.3, 0.3, 0.3]), front=[1, 2])
    assert lines == [
        "at chance level on mqar (chance 0.125): 2 of 4 architectures (trials 0, 2), "
        "1 of them on the front"
    ]


def test_a_task_no_architecture_learned_cannot_rank_them() -> None:
    lines = chance_lines(scores([0.5, 0.45], [0.0, 0.0]))
    assert lines == [
        "at chance level on byte_lm (chance 0): every architecture: the study cannot rank "
        "them on it at this budget"
    ]


def test_nothing_is_said_when_every_score_is_above_chance() -> None:
    assert chance_lines(scores([0.5, 0.45], [0.3, 0.2])) == []
    assert chance_lines(scores([], [])) == []
