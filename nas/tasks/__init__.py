"""Capability tasks: deterministic generators with a documented score in [0, 1].

A task is named by a spec string ``name`` or ``name:key=value,...``; :func:`get_task`
validates it and :attr:`Task.spec` gives its canonical form (every parameter, defaults
included, sorted by key), which is what results are stored under.

========================  ====================================================  ==============
task                      what the model must do                                capability
========================  ====================================================  ==============
``mqar``                  recall the value of each queried key (Zoology MQAR)   accuracy
``selective_copy``        copy out data tokens scattered among blanks (Mamba)   accuracy
``noisy_recall``          recall values of recurring keys amid noise (MAD)      accuracy
``fuzzy_recall``          the same with multi-token keys and values (MAD)       accuracy
``byte_lm``               next byte of a text corpus (held-out split)           1 - bpb/H1
========================  ====================================================  ==============

Accuracy is argmax accuracy on the scored positions; ``H1`` is the entropy of the held-out
split's byte histogram (see ``_byte_lm.py``). Every task takes ``filler=k``: k filler tokens
after each real one, scored on the real positions (see ``_filler.py``). Token id 0 is the
filler in every task. Each module's docstring defines its task and metric exactly.

Example:
    >>> from nas.tasks import get_task
    >>> task = get_task("selective_copy:num_tokens=4,seq_len=16")
    >>> batch = next(task.batches("train", batch_size=2, seed=0))
    >>> tuple(batch.inputs.shape), int(batch.metric_mask.sum()), task.vocab_size
    ((2, 16), 8, 16)
"""

from nas.tasks._base import FILLER_TOKEN, Batch, Param, Split, Tally, Task, tally
from nas.tasks._registry import TASK_NAMES, TASKS, get_task

__all__ = [
    "FILLER_TOKEN",
    "TASKS",
    "TASK_NAMES",
    "Batch",
    "Param",
    "Split",
    "Tally",
    "Task",
    "get_task",
    "tally",
]
