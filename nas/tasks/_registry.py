"""Task specs: ``name`` or ``name:key=value,...`` -> a validated :class:`Task`."""

from __future__ import annotations

from nas.errors import UserError, did_you_mean
from nas.tasks._base import FILLER_PARAM, Param, Task
from nas.tasks._byte_lm import ByteLM
from nas.tasks._filler import FillerTask
from nas.tasks._mqar import MQAR
from nas.tasks._recall import FuzzyRecall, NoisyRecall
from nas.tasks._selective_copy import SelectiveCopy

TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (MQAR, SelectiveCopy, NoisyRecall, FuzzyRecall, ByteLM)
}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(spec: str | Task) -> Task:
    """Build the task a spec names; every parameter left out takes its default.

    ``filler=k`` (any task) inserts k filler tokens after every real token. Raises
    :class:`~nas.errors.UserError` for an unknown task or parameter (with a did-you-mean)
    and for a value of the wrong type or out of range.

    >>> task = get_task("mqar:seq_len=32, num_kv_pairs=4")
    >>> task.spec
    'mqar:filler=0,gap_power=1.0,num_kv_pairs=4,seq_len=32,vocab_size=64'
    >>> get_task(task.spec) == task, task.vocab_size, get_task("mqar:filler=1").seq_len
    (True, 64, 128)
    """
    if isinstance(spec, Task):
        return spec
    text = spec.strip()
    name, _, body = text.partition(":")
    name = name.strip()
    if name not in TASKS:
        raise UserError(
            f"unknown task {name!r}{did_you_mean(name, TASKS)}; tasks: {', '.join(TASKS)}"
        )
    cls = TASKS[name]
    schema: dict[str, Param] = {p.name: p for p in (*cls.PARAMS, FILLER_PARAM)}
    values = {p.name: p.default for p in schema.values()}
    given: set[str] = set()
    for item in (part.strip() for part in body.split(",")) if body.strip() else ():
        key, sep, raw = (s.strip() for s in item.partition("="))
        if not sep or not key or not raw:
            raise UserError(f"task {text!r}: {item!r} is not key=value")
        if key not in schema:
            raise UserError(
                f"task {text!r}: unknown parameter {key!r}{did_you_mean(key, schema)}; "
                f"{name} takes {', '.join(sorted(schema))}"
            )
        if key in given:
            raise UserError(f"task {text!r}: {key} is given twice")
        given.add(key)
        try:
            values[key] = schema[key].parse(raw)
        except UserError as error:
            raise UserError(f"task {text!r}: {error}") from None
    filler = values.pop(FILLER_PARAM.name)
    task = cls(values)
    return FillerTask(task, filler) if filler else task
