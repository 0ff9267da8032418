"""YAML reading that keeps where every value came from, for ``file:line:col`` error messages.

PyYAML's composer gives nodes with marks; we turn them into :class:`YamlNode` trees (mappings
with string keys, sequences, raw scalars) and keep each node's :class:`Location`. Scalars stay
raw text with PyYAML's resolved tag: the schema decides what a scalar means, so ``ratio: 3:1``
stays the string ``"3:1"`` instead of YAML 1.1's base-60 integer 181, and ``dt_min: 1e-3``
is a float although YAML 1.1 calls it a string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nas.errors import UserError

_TAG = "tag:yaml.org,2002:"
_CONSTRUCTOR = yaml.SafeLoader("")  # only its construct_object is used, for YAML 1.1 scalars


@dataclass(frozen=True)
class Location:
    """A place in a file; ``line`` and ``column`` are 1-based, None where unknown."""

    file: str
    line: int | None = None
    column: int | None = None

    def shifted(self, columns: int) -> Location:
        """The location ``columns`` characters to the right (inside a one-line scalar)."""
        if self.column is None:
            return self
        return Location(self.file, self.line, self.column + columns)

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One problem in a user's file: ``file:line:col: key: message``."""

    location: Location
    key: str
    message: str

    def __str__(self) -> str:
        key = f" {self.key}:" if self.key else ""
        return f"{self.location}:{key} {self.message}"


class SpaceError(UserError):
    """Problems in a search-space file (or the overrides merged onto it), all of them at once.

    ``problems`` lists each one; ``str(error)`` prints one per line, ordered by file and line.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(
            problems, key=lambda p: (p.location.file, p.location.line or 0, p.location.column or 0)
        )
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class YamlNode:
    """A YAML value with its location.

    ``kind`` is ``"map"`` (``value``: dict of str -> YamlNode, ``key_locations`` beside it),
    ``"seq"`` (``value``: list of YamlNode) or ``"scalar"`` (``value``: the raw text; ``tag``:
    the YAML tag PyYAML resolved).
    """

    kind: str
    value: Any
    location: Location
    tag: str = ""
    quoted: bool = False  # a one-line quoted scalar: text starts one column after the mark
    key_locations: dict[str, Location] = field(default_factory=dict)

    @property
    def is_null(self) -> bool:
        return self.kind == "scalar" and self.tag == _TAG + "null"

    def text_location(self, offset: int) -> Location:
        """Where character ``offset`` of a one-line scalar's text is."""
        return self.location.shifted(offset + (1 if self.quoted else 0))

    def to_python(self) -> Any:
        """The plain Python value, as PyYAML's safe loader would build it."""
        if self.kind == "map":
            return {key: node.to_python() for key, node in self.value.items()}
        if self.kind == "seq":
            return [node.to_python() for node in self.value]
        if self.tag == _TAG + "str":
            return self.value
        return _CONSTRUCTOR.construct_object(yaml.ScalarNode(self.tag, self.value))


def read_yaml(path: str | Path, label: str | None = None) -> YamlNode:
    """Read one YAML document, keeping locations; problems raise :class:`SpaceError`.

    ``label`` is the file name used in messages (default: ``path`` as given).

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
    ...     _ = f.write("layout:\\n  ratio: 3:1\\n")
    >>> node = read_yaml(f.name, label="x.yaml")
    >>> node.value["layout"].value["ratio"].value, str(node.value["layout"].value["ratio"].location)
    ('3:1', 'x.yaml:2:10')
    >>> os.unlink(f.name)
    """
    label = str(path) if label is None else label
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError([Problem(Location(label), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpaceError([Problem(Location(label), "", f"cannot read the file: {exc}")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _location(label, mark) if mark is not None else Location(label)
        message = exc.problem or "invalid YAML"
        if exc.context:
            message += f" ({exc.context})"
        raise SpaceError([Problem(where, "", f"YAML syntax error: {message}")]) from None
    except yaml.YAMLError as exc:
        raise SpaceError([Problem(Location(label), "", f"YAML error: {exc}")]) from None
    if root is None:
        raise SpaceError([Problem(Location(label, 1, 1), "", "the file is empty")])
    problems: list[Problem] = []
    node = _convert(root, label, "", problems)
    if problems:
        raise SpaceError(problems)
    return node


def _location(label: str, mark: yaml.Mark) -> Location:
    return Location(label, mark.line + 1, mark.column + 1)


def _convert(node: yaml.Node, label: str, path: str, problems: list[Problem]) -> YamlNode:
    location = _location(label, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        out = YamlNode("map", {}, location)
        for key_node, value_node in node.value:
            key_location = _location(label, key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _TAG + "null":
                problems.append(Problem(key_location, path, "keys must be plain names"))
                continue
            key = key_node.value
            child_path = f"{path}.{key}" if path else key
            if key in out.value:
                first = out.key_locations[key]
                problems.append(
                    Problem(
                        key_location,
                        child_path,
                        f"duplicate key (first given at line {first.line})",
                    )
                )
                continue
            out.key_locations[key] = key_location
            out.value[key] = _convert(value_node, label, child_path, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = [
            _convert(item, label, f"{path}[{i}]", problems) for i, item in enumerate(node.value)
        ]
        return YamlNode("seq", items, location)
    one_line = node.start_mark.line == node.end_mark.line
    return YamlNode(
        "scalar", node.value, location, tag=node.tag, quoted=one_line and node.style in ("'", '"')
    )


def from_python(value: Any, label: str) -> YamlNode:
    """Wrap plain Python data (e.g. overrides given in code) as nodes located at ``label``."""
    location = Location(label)
    if isinstance(value, YamlNode):
        return value
    if isinstance(value, Mapping):
        node = YamlNode("map", {}, location)
        for key, item in value.items():
            node.value[str(key)] = from_python(item, label)
            node.key_locations[str(key)] = location
        return node
    if isinstance(value, Sequence) and not isinstance(value, str):
        return YamlNode("seq", [from_python(item, label) for item in value], location)
    if value is None:
        tag, text = "null", "null"
    elif isinstance(value, bool):
        tag, text = "bool", "true" if value else "false"
    elif isinstance(value, int):
        tag, text = "int", str(value)
    elif isinstance(value, float):
        tag, text = "float", repr(value)
    else:
        tag, text = "str", str(value)
    return YamlNode("scalar", text, location, tag=_TAG + tag)
