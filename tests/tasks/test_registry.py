"""Task specs: canonical form, round trips, and one clear error per mistake."""

from __future__ import annotations

import pytest

from nas.errors import UserError
from nas.tasks import TASK_NAMES, TASKS, get_task


@pytest.mark.parametrize("name", TASK_NAMES)
def test_defaults_give_a_canonical_spec_that_round_trips(name: str) -> None:
    task = get_task(name)
    keys = [item.split("=")[0] for item in task.spec.split(":", 1)[1].split(",")]
    assert keys == sorted(keys) and "filler" in keys
    assert set(keys) == {p.name for p in TASKS[name].PARAMS} | {"filler"}
    assert get_task(task.spec).spec == task.spec
    assert get_task(task) is task


def test_equal_specs_in_any_spelling_are_one_task() -> None:
    a = get_task("mqar:num_kv_pairs=4, seq_len=32,gap_power=.5")
    b = get_task(" mqar : gap_power=0.50,seq_len=32,num_kv_pairs=4,filler=0,vocab_size=64")
    assert a.spec == b.spec == "mqar:filler=0,gap_power=0.5,num_kv_pairs=4,seq_len=32,vocab_size=64"
    assert a == b and hash(a) == hash(b)
    assert get_task("mqar:filler=1") != get_task("mqar")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mqr", "unknown task 'mqr' (did you mean 'mqar'?)"),
        ("mqar:num_kv_pair=4", "unknown parameter 'num_kv_pair' (did you mean 'num_kv_pairs'?)"),
        ("mqar:num_kv_pairs=four", "num_kv_pairs='four' is not an integer"),
        ("mqar:num_kv_pairs=0", "num_kv_pairs=0 must be >= 1"),
        ("mqar:gap_power=nan", "must be a finite number"),
        ("mqar:filler=-1", "filler=-1 must be >= 0"),
        ("mqar:seq_len=32,seq_len=64", "seq_len is given twice"),
        ("mqar:seq_len", "'seq_len' is not key=value"),
        ("mqar:seq_len=", "'seq_len=' is not key=value"),
        ("mqar:num_kv_pairs=40", "raise vocab_size to at least 81"),
        ("mqar:num_kv_pairs=10,seq_len=20", "seq_len >= 30"),
        ("selective_copy:num_tokens=20,seq_len=30", "seq_len >= 40"),
        ("noisy_recall:noise_fraction=0.95", "noise_fraction=0.95 must be <= 0.9"),
        ("noisy_recall:num_kv_pairs=20", "too few for num_kv_pairs=20"),
        ("fuzzy_recall:vocab_size=5,num_kv_pairs=5,key_len=1", "distinct keys do not exist"),
        ("byte_lm:path=/no/such/corpus", "path=/no/such/corpus does not exist"),
        ("byte_lm:vocab_size=300", "byte_lm takes eval_fraction, filler, path, seq_len"),
    ],
)
def test_mistakes_are_user_errors_that_say_what_to_fix(spec: str, message: str) -> None:
    with pytest.raises(UserError) as error:
        get_task(spec)
    assert message in str(error.value)


def test_a_corpus_too_short_for_the_sequence_length(tmp_path) -> None:
    corpus = tmp_path / "tiny.txt"
    corpus.write_bytes(b"hello world " * 5)
    with pytest.raises(UserError, match=r"the eval split of .* has 6 bytes, fewer than seq_len"):
        get_task(f"byte_lm:path={corpus},seq_len=16")
