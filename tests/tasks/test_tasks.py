"""Task generators: determinism, shapes, the structure each task promises, and its metric."""

from __future__ import annotations

import math

import pytest
import torch

from nas.tasks import FILLER_TOKEN, TASK_NAMES, Batch, Tally, get_task, tally

SMALL = {
    "mqar": "mqar:num_kv_pairs=4,seq_len=32,vocab_size=32",
    "selective_copy": "selective_copy:num_tokens=4,seq_len=24",
    "noisy_recall": "noisy_recall:num_kv_pairs=4,seq_len=48",
    "fuzzy_recall": "fuzzy_recall:num_kv_pairs=3,seq_len=48",
    "byte_lm": "byte_lm:seq_len=32",
}


def first(spec: str, split: str = "train", batch_size: int = 8, seed: int = 0) -> Batch:
    return next(get_task(spec).batches(split, batch_size, seed))


def test_every_task_has_a_small_spec() -> None:
    assert set(SMALL) == set(TASK_NAMES)


@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize("filler", [0, 2])
def test_batches_are_well_formed_and_reproducible(name: str, filler: int) -> None:
    spec = f"{SMALL[name]},filler={filler}"
    task = get_task(spec)
    stream = task.batches("train", 8, seed=3)
    a, a2 = next(stream), next(stream)
    b = first(spec, seed=3)
    for x, y in zip(
        (a.inputs, a.targets, a.loss_mask, a.metric_mask),
        (b.inputs, b.targets, b.loss_mask, b.metric_mask),
        strict=True,
    ):
        assert torch.equal(x, y)
    assert not torch.equal(a.inputs, a2.inputs)  # the stream moves on
    assert not torch.equal(a.inputs, first(spec, seed=4).inputs)
    assert not torch.equal(a.inputs, first(spec, split="eval", seed=3).inputs)

    assert a.inputs.shape == a.targets.shape == a.metric_mask.shape == (8, task.seq_len)
    assert a.inputs.dtype == a.targets.dtype == torch.long
    assert a.loss_mask.dtype == a.metric_mask.dtype == torch.bool
    assert int(a.inputs.min()) >= 0 and int(a.inputs.max()) < task.vocab_size
    assert int(a.targets.max()) < task.vocab_size
    assert a.metric_mask.any() and not (a.metric_mask & ~a.loss_mask).any()
    if name != "byte_lm":  # token 0 is the filler: clean synthetic tasks never emit it
        assert (a.inputs == FILLER_TOKEN).sum() == (8 * task.seq_len * filler) // (filler + 1)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_filler_variant_is_the_clean_task_spread_out(name: str) -> None:
    clean, filled = first(SMALL[name], seed=1), first(f"{SMALL[name]},filler=3", seed=1)
    task = get_task(f"{SMALL[name]},filler=3")
    assert task.seq_len == 4 * get_task(SMALL[name]).seq_len
    assert task.clean == get_task(SMALL[name]) and task.filler == 3
    assert torch.equal(filled.inputs[:, ::4], clean.inputs)
    assert torch.equal(filled.targets[:, ::4], clean.targets)
    assert torch.equal(filled.metric_mask[:, ::4], clean.metric_mask)
    off = torch.ones(task.seq_len, dtype=torch.bool)
    off[::4] = False
    assert (filled.inputs[:, off] == FILLER_TOKEN).all()
    assert not filled.loss_mask[:, off].any() and not filled.metric_mask[:, off].any()


def test_mqar_recalls_the_value_of_each_queried_key() -> None:
    task = get_task("mqar:num_kv_pairs=6,seq_len=40,vocab_size=40")
    batch = first(task.spec, batch_size=16)
    pairs, half = 6, (40 - 1) // 2
    for row in range(16):
        inputs = batch.inputs[row]
        keys, values = inputs[0 : 2 * pairs : 2], inputs[1 : 2 * pairs : 2]
        assert ((keys >= 1) & (keys <= half)).all() and (values > half).all()
        assert len(set(keys.tolist())) == pairs and len(set(values.tolist())) == pairs
        mapping = dict(zip(keys.tolist(), values.tolist(), strict=True))
        queries = batch.metric_mask[row].nonzero().flatten()
        assert len(queries) == pairs and (queries >= 2 * pairs).all()
        assert sorted(inputs[queries].tolist()) == sorted(keys.tolist())  # each key once
        for q in queries.tolist():
            assert batch.targets[row, q].item() == mapping[inputs[q].item()]


def test_mqar_query_offsets_follow_the_power_law() -> None:
    batch = first("mqar:num_kv_pairs=2,seq_len=36,gap_power=1.0", batch_size=4000)
    offsets = batch.metric_mask[:, 4:].nonzero()[:, 1]
    counts = torch.bincount(offsets, minlength=32).double()
    assert counts[0] > 1.5 * counts[1] > 0 and counts[1] > counts[7] > counts[31]
    uniform = first("mqar:num_kv_pairs=2,seq_len=36,gap_power=0.0", batch_size=4000)
    flat = torch.bincount(uniform.metric_mask[:, 4:].nonzero()[:, 1], minlength=32).double()
    assert abs(flat[:16].sum() / flat[16:].sum() - 1) < 0.05 and flat.min() > 0.8 * flat.mean()


def test_selective_copy_targets_are_the_scattered_tokens_in_order() -> None:
    batch = first("selective_copy:num_tokens=5,seq_len=30,vocab_size=12", batch_size=16)
    region = batch.inputs[:, :25]
    assert (batch.inputs[:, 25:] == 2).all()  # copy markers
    for row in range(16):
        data = region[row][region[row] != 1]  # everything but blanks
        assert len(data) == 5 and (data >= 3).all()
        assert torch.equal(batch.targets[row, 25:], data)
    assert batch.metric_mask[:, 25:].all() and not batch.metric_mask[:, :25].any()


@pytest.mark.parametrize(
    "spec",
    [
        "noisy_recall:num_kv_pairs=5,seq_len=60,noise_fraction=0.3",
        "fuzzy_recall:num_kv_pairs=4,seq_len=64,key_len=2,value_len=3,vocab_size=12",
        "fuzzy_recall:num_kv_pairs=6,seq_len=96,key_len=4,value_len=1,vocab_size=60",  # 29^4 keys
    ],
)
def test_recall_scores_only_recurring_keys_with_a_consistent_mapping(spec: str) -> None:
    task = get_task(spec)
    batch = first(spec, batch_size=12)
    kl, vl = task.key_len, task.value_len
    for row in range(12):
        tokens = batch.inputs[row].tolist()
        mapping: dict[tuple, tuple] = {}
        i = 0
        while i + kl + vl <= len(tokens):
            if tokens[i] <= task.noise_vocab:  # a noise token between pairs
                i += 1
                continue
            key, value = tuple(tokens[i : i + kl]), tuple(tokens[i + kl : i + kl + vl])
            scored = batch.metric_mask[row, i + kl - 1 : i + kl + vl - 1]
            assert scored.all() == (key in mapping) and scored.any() == (key in mapping)
            assert mapping.setdefault(key, value) == value
            assert tuple(batch.targets[row, i + kl - 1 : i + kl + vl - 1].tolist()) == value
            i += kl + vl
        assert len(mapping) <= task.params["num_kv_pairs"]
        key_tokens = {t for key in mapping for t in key}
        value_tokens = {t for value in mapping.values() for t in value}
        assert not key_tokens & value_tokens


def test_noisy_recall_noise_share() -> None:
    task = get_task("noisy_recall:seq_len=100,noise_fraction=0.3,num_kv_pairs=4")
    batch = first(task.spec, batch_size=32)
    noise = (batch.inputs <= task.noise_vocab).double().mean().item()
    assert abs(noise - 0.3) < 0.02


def test_byte_lm_windows_come_from_their_split() -> None:
    task = get_task("byte_lm:seq_len=64")
    train, held_out = task.splits["train"], task.splits["eval"]
    assert len(train) + len(held_out) == 1_115_394 and len(held_out) == 111_540
    text = bytes(held_out.tolist())
    batch = first(task.spec, split="eval", batch_size=4)
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    for row in range(4):
        assert bytes(batch.inputs[row].tolist()) + bytes([batch.targets[row, -1].item()]) in text
    assert batch.metric_mask.all()
    assert 4.7 < task.unigram_bpb < 4.9


def test_byte_lm_reads_a_user_file_or_directory(tmp_path) -> None:
    (tmp_path / "a.txt").write_bytes(b"abcd" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_bytes(b"xy" * 100)
    (tmp_path / ".hidden").write_bytes(b"!" * 1000)
    task = get_task(f"byte_lm:path={tmp_path},seq_len=8,eval_fraction=0.25")
    assert task.spec == f"byte_lm:eval_fraction=0.25,filler=0,path={tmp_path},seq_len=8"
    assert bytes(task.splits["eval"].tolist()) == b"xy" * 75  # a.txt, then sub/b.txt; no .hidden
    assert task.unigram_bpb == pytest.approx(1.0)
    single = get_task(f"byte_lm:path={tmp_path / 'a.txt'},seq_len=8")
    assert bytes(single.splits["train"][:8].tolist()) == b"abcdabcd"


def test_byte_lm_capability_maps_bits_per_byte_against_unigram_entropy() -> None:
    task = get_task("byte_lm")
    h1 = task.unigram_bpb
    half = Tally(nll=0.5 * h1 * math.log(2) * 10, correct=3, count=10)
    capability, metrics = task.summarize(half)
    assert capability == pytest.approx(0.5)
    assert metrics["bpb"] == pytest.approx(h1 / 2) and metrics["unigram_bpb"] == h1
    assert task.summarize(Tally(nll=8 * math.log(2), count=1))[0] == 0.0  # uniform guessing
    assert task.summarize(Tally(nll=0.0, count=1))[0] == 1.0


def test_tally_and_accuracy_summary() -> None:
    logits = torch.full((1, 3, 4), -10.0)
    logits[0, 0, 2] = logits[0, 1, 1] = logits[0, 2, 3] = 10.0
    targets = torch.tensor([[2, 0, 3]])
    mask = torch.tensor([[True, True, False]])
    total = tally(logits, Batch(targets, targets, mask, mask))
    assert (total.correct, total.count) == (1.0, 2.0)
    expected = torch.nn.functional.cross_entropy(logits[0, :2], targets[0, :2], reduction="sum")
    assert total.nll == pytest.approx(float(expected))
    capability, metrics = get_task("mqar").summarize(total + Tally(0.0, 1.0, 2.0))
    assert capability == metrics["accuracy"] == 0.5 and metrics["positions"] == 4
