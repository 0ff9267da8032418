"""Parameters: a fixed value, a choice, or an int/float range; parsed from YAML nodes.

A parameter knows how to ask an Optuna trial for its value (always with the same name and
distribution, as define-by-run requires), how to list its grid values when it is finite,
and how to draw a value at random.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Literal

from nas.arch import LayoutError, parse_layout, parse_ratio
from nas.errors import did_you_mean
from nas.space._schema import CHOICE_KEYS, RANGE_KEYS, Key
from nas.space._yaml import Location, Problem, YamlNode

ParamKind = Literal["fixed", "choice", "int", "float"]
_TAG = "tag:yaml.org,2002:"
_BAD = object()  # a value that failed to convert; its problem is already recorded


@dataclass(frozen=True)
class Param:
    """One parameter of a search space.

    ``kind`` is ``fixed`` (``values`` has the one value), ``choice`` (``values``), ``int`` or
    ``float`` (``low``, ``high``, ``step``, ``log``). ``location`` is where the YAML gives it
    (None for a default). ``used`` is False where no architecture of the space reads it (SSM
    settings in a pure-attention space); ``condition`` says when it is read.
    """

    name: str
    key: Key
    kind: ParamKind
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    location: Location | None = None
    value_locations: tuple[Location, ...] = ()
    condition: str = ""
    used: bool = True

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed"

    @property
    def is_finite(self) -> bool:
        return self.kind != "float" or self.step is not None

    def grid_values(self) -> list[Any]:
        """Every value of a finite parameter, in order."""
        if self.kind in ("fixed", "choice"):
            return list(self.values)
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ValueError(f"{self.name} is a continuous range: it has no grid")
        count = round((self.high - self.low) / self.step)
        return [round(self.low + i * self.step, 12) for i in range(count + 1)]

    def candidate_values(self) -> list[Any]:
        """Grid values, or a continuous range's two ends (for load-time consistency checks)."""
        return self.grid_values() if self.is_finite else [self.low, self.high]

    def value_location(self, value: Any) -> Location | None:
        """Where ``value`` is written (a choice's item), else where the parameter is."""
        if self.kind == "choice" and value in self.values:
            return self.value_locations[self.values.index(value)]
        return self.location

    def suggest(self, trial: Any) -> Any:
        """Ask ``trial`` (an Optuna trial) for this parameter's value; fixed values are not asked."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def sample(self, rng: random.Random) -> Any:
        """A value drawn uniformly (log-uniformly with ``log``)."""
        if self.kind in ("fixed", "choice"):
            return rng.choice(self.values)
        assert self.low is not None and self.high is not None
        if self.log:
            low, high = (
                (self.low - 0.5, self.high + 0.5) if self.kind == "int" else (self.low, self.high)
            )
            value = math.exp(rng.uniform(math.log(max(low, 1e-300)), math.log(high)))
            return (
                min(max(round(value), int(self.low)), int(self.high))
                if self.kind == "int"
                else value
            )
        if self.kind == "int" or self.step is not None:
            return rng.choice(self.grid_values())
        return rng.uniform(self.low, self.high)

    def describe(self) -> str:
        """A short human form: ``16``, ``choice 4, 16, 32``, ``int 2..8 step 2``, ``float 1e-4..0.1 log``."""
        if self.kind == "fixed":
            return _show(self.values[0])
        if self.kind == "choice":
            return "choice " + ", ".join(_show(v) for v in self.values)
        text = f"{self.kind} {_show(self.low)}..{_show(self.high)}"
        if self.step is not None and not (self.kind == "int" and self.step == 1):
            text += f" step {_show(self.step)}"
        return text + (" log" if self.log else "")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def fixed_param(name: str, key: Key, value: Any) -> Param:
    """A parameter that keeps its default value."""
    return Param(name=name, key=key, kind="fixed", values=(value,))


def parse_param(name: str, key: Key, node: YamlNode, problems: list[Problem]) -> Param | None:
    """Read a parameter written as a value, a list, ``{choice: [...]}`` or ``{low, high, ...}``.

    Problems are appended to ``problems``; None is returned if the parameter is unusable.
    """
    if node.kind == "seq":
        return _parse_choice(name, key, node, node, problems)
    if node.kind == "scalar":
        value = convert_scalar(name, key, node, problems)
        if value is _BAD:
            return None
        return Param(
            name, key, "fixed", (value,), location=node.location, value_locations=(node.location,)
        )
    given = node.value
    unknown = [k for k in given if k not in CHOICE_KEYS + RANGE_KEYS]
    for k in unknown:
        problems.append(
            Problem(
                node.key_locations[k],
                f"{name}.{k}",
                f"unknown key{did_you_mean(k, CHOICE_KEYS + RANGE_KEYS)}: a parameter is a value, "
                "a list, {choice: [...]} or {low, high, step, log}",
            )
        )
    if unknown:
        return None
    if "choice" in given:
        others = [k for k in given if k != "choice"]
        if others:
            problems.append(
                Problem(
                    node.location, name, f"give either choice or a range, not both ({others[0]})"
                )
            )
            return None
        choices = given["choice"]
        if choices.kind != "seq":
            problems.append(
                Problem(choices.location, f"{name}.choice", "expected a list of values")
            )
            return None
        return _parse_choice(name, key, node, choices, problems)
    return _parse_range(name, key, node, problems)


def _parse_choice(
    name: str, key: Key, node: YamlNode, items: YamlNode, problems: list[Problem]
) -> Param | None:
    if not items.value:
        problems.append(Problem(items.location, name, "empty choice: give at least one value"))
        return None
    values: list[Any] = []
    locations: list[Location] = []
    ok = True
    for i, item in enumerate(items.value):
        value = convert_scalar(f"{name}[{i}]", key, item, problems)
        if value is _BAD:
            ok = False
        elif value in values and type(value) is type(values[values.index(value)]):
            problems.append(
                Problem(item.location, f"{name}[{i}]", f"duplicate choice {_show(value)}")
            )
            ok = False
        else:
            values.append(value)
            locations.append(item.location)
    if not ok:
        return None
    kind: ParamKind = "choice" if len(values) > 1 else "fixed"
    return Param(
        name, key, kind, tuple(values), location=node.location, value_locations=tuple(locations)
    )


def _parse_range(name: str, key: Key, node: YamlNode, problems: list[Problem]) -> Param | None:
    given = node.value
    if key.type not in ("int", "float"):
        problems.append(
            Problem(
                node.location,
                name,
                f"a range needs a numeric parameter; {name} is {_expected(key)}: use choice",
            )
        )
        return None
    missing = [k for k in ("low", "high") if k not in given]
    if missing:
        problems.append(
            Problem(
                node.location, name, f"a range needs low and high (missing {' and '.join(missing)})"
            )
        )
        return None
    bound_key = Key(key.type, None, key.help, minimum=key.minimum, positive=key.positive)
    low = convert_scalar(f"{name}.low", bound_key, given["low"], problems)
    high = convert_scalar(f"{name}.high", bound_key, given["high"], problems)
    step_key = Key(key.type, None, "step", minimum=1, positive=True)
    step = (
        convert_scalar(f"{name}.step", step_key, given["step"], problems)
        if "step" in given
        else None
    )
    log_key = Key("bool", False, "log")
    log = (
        convert_scalar(f"{name}.log", log_key, given["log"], problems) if "log" in given else False
    )
    if _BAD in (low, high, step, log):
        return None
    where = node.location
    if low > high:
        problems.append(
            Problem(
                given["low"].location,
                name,
                f"low ({_show(low)}) is greater than high ({_show(high)})",
            )
        )
        return None
    if log and step is not None and not (key.type == "int" and step == 1):
        problems.append(Problem(given["step"].location, name, "a log range cannot have a step"))
        return None
    if log and low <= 0:
        problems.append(Problem(given["low"].location, name, "a log range needs low > 0"))
        return None
    if step is not None and high > low:
        count = (high - low) / step
        if abs(count - round(count)) > 1e-9:
            below = low + math.floor(count) * step
            problems.append(
                Problem(
                    given["high"].location,
                    name,
                    f"high - low ({_show(high - low)}) is not a multiple of step ({_show(step)}): "
                    f"use high: {_show(below)} or {_show(below + step)}",
                )
            )
            return None
    return Param(name, key, key.type, low=low, high=high, step=step, log=log, location=where)


def _expected(key: Key) -> str:
    text = {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "enum": "one of " + ", ".join(key.options),
        "ratio": "a ratio 'S:A' such as '3:1'",
        "pattern": "a layout pattern such as '(MMMA)x2'",
    }[key.type]
    return text + (" or null" if key.nullable else "")


def convert_scalar(name: str, key: Key, node: YamlNode, problems: list[Problem]) -> Any:
    """The value of one scalar node for ``key``, or ``_BAD`` after recording a problem."""

    def bad(message: str, location: Location | None = None) -> Any:
        problems.append(Problem(location or node.location, name, message))
        return _BAD

    if node.kind != "scalar":
        return bad(
            f"expected {_expected(key)}, got a {'list' if node.kind == 'seq' else 'mapping'}"
        )
    text, tag = node.value, node.tag.removeprefix(_TAG)
    if tag == "null":
        return None if key.nullable else bad(f"expected {_expected(key)}, got null")
    if key.type == "int":
        if tag != "int":
            return bad(f"expected {_expected(key)}, got {text!r}")
        value = node.to_python()
        if key.minimum is not None and value < key.minimum:
            return bad(f"must be at least {key.minimum}, got {value}")
        return value
    if key.type == "float":
        value = _float(text, tag, node.quoted)
        if value is None:
            return bad(f"expected {_expected(key)}, got {text!r}")
        if key.positive and not value > 0:
            return bad(f"must be greater than 0, got {_show(value)}")
        return value
    if key.type == "bool":
        return node.to_python() if tag == "bool" else bad(f"expected true or false, got {text!r}")
    if key.type == "enum":
        if text not in key.options:
            return bad(
                f"{text!r} is not one of {', '.join(key.options)}{did_you_mean(text, key.options)}"
            )
        return text
    try:
        if key.type == "ratio":
            parse_ratio(text)
        else:
            parse_layout(text)
    except LayoutError as exc:
        where = node.text_location(exc.column) if exc.column is not None else None
        return bad(exc.message, where)
    return text


def _float(text: str, tag: str, quoted: bool) -> float | None:
    if tag in ("int", "float"):
        return float(YamlNode("scalar", text, Location(""), tag=_TAG + tag).to_python())
    if tag == "str" and not quoted:  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(text)
        except ValueError:
            return None
    return None
