"""The ``--where`` language: a small, safe filter over trial columns (never ``eval``).

Grammar (keywords are case-insensitive; ``=`` is accepted for ``==`` and ``<>`` for ``!=``)::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | test
    test     := sum [cmp sum | ["not"] "in" list | "is" ["not"] "null"
                     | ["not"] "contains" sum | ["not"] "matches" sum]
    cmp      := "==" | "!=" | "<" | "<=" | ">" | ">="
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-" unary | atom
    atom     := NUMBER | STRING | "true" | "false" | NAME | `any name` | "(" expr ")"
    list     := "[" [sum ("," sum)*] "]"   (parentheses also accepted)

A NAME is a column of the trials table (letters, digits, ``_`` and ``.``); quote any
other column name in backticks, e.g. ```cap:mqar` > 0.5``. ``contains`` tests for a
substring, ``matches`` searches a regular expression. A missing value fails every
comparison, ``in``, ``contains`` and ``matches`` (``is null`` finds it); ``not`` inverts.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"d_state": [8, 16, 32], "family": ["ssm", "hybrid", "hybrid"]})
    >>> Where.parse("d_state >= 16 and family in ['hybrid']").mask(frame).tolist()
    [False, True, True]
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.errors import UserError

if TYPE_CHECKING:
    import pandas as pd


class WhereError(UserError):
    """A ``--where`` expression that cannot be parsed or evaluated.

    ``column`` is the 0-based offset in ``expression``; the message shows it with a caret.
    """

    def __init__(self, message: str, expression: str, column: int) -> None:
        self.message = message
        self.expression = expression
        self.column = column
        super().__init__(
            f"invalid --where expression at column {column + 1}: {message}\n"
            f"  {expression}\n  {' ' * column}^"
        )


# -- tokens ------------------------------------------------------------------------------------
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "contains", "matches"}
_OPERATORS = (
    "==",
    "!=",
    "<>",
    "<=",
    ">=",
    "<",
    ">",
    "=",
    "+",
    "-",
    "*",
    "/",
    "(",
    ")",
    "[",
    "]",
    ",",
)
_NUMBER = re.compile(r"(\d[\d_]*)?(\.\d[\d_]*)?([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


@dataclass(frozen=True)
class _Token:
    kind: str  # "num" | "str" | "name" | "kw" | "op" | "end"
    value: Any
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char.isdigit() or (char == "." and text[i + 1 : i + 2].isdigit()):
            match = _NUMBER.match(text, i)
            assert match is not None and match.end() > i
            literal = match.group().replace("_", "")
            is_int = match.group(2) is None and match.group(3) is None
            tokens.append(_Token("num", int(literal) if is_int else float(literal), i))
            i = match.end()
            if i < len(text) and (text[i].isalnum() or text[i] == "_"):
                word = _NAME.match(text, i)
                end = word.end() if word else i + 1
                raise WhereError(f"malformed number {text[tokens[-1].pos : end]!r}", text, i)
        elif char in "'\"":
            value, end = _read_string(text, i)
            tokens.append(_Token("str", value, i))
            i = end
        elif char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise WhereError("unterminated `quoted name`", text, i)
            if end == i + 1:
                raise WhereError("empty `` name", text, i)
            tokens.append(_Token("name", text[i + 1 : end], i))
            i = end + 1
        elif _NAME.match(text, i):
            match = _NAME.match(text, i)
            assert match is not None
            word = match.group()
            if word.lower() in _KEYWORDS:
                tokens.append(_Token("kw", word.lower(), i))
            else:
                tokens.append(_Token("name", word, i))
            i = match.end()
        else:
            op = next((op for op in _OPERATORS if text.startswith(op, i)), None)
            if op is None:
                raise WhereError(f"unexpected character {char!r}", text, i)
            tokens.append(_Token("op", {"=": "==", "<>": "!="}.get(op, op), i))
            i += len(op)
    tokens.append(_Token("end", None, len(text)))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read the quoted string at ``start``: (its value, the offset after it).

    A backslash escapes the next character."""
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char == quote:
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise WhereError("unterminated string", text, start)


# -- syntax tree -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Node:
    pos: int


@dataclass(frozen=True)
class _Literal(_Node):
    value: Any


@dataclass(frozen=True)
class _Column(_Node):
    name: str


@dataclass(frozen=True)
class _Op(_Node):
    """An operator applied to operands: arithmetic, comparison, logic or a string test."""

    op: str
    args: tuple[_Node, ...]


@dataclass(frozen=True)
class _In(_Node):
    operand: _Node
    items: tuple[_Node, ...]
    negated: bool


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _is(self, kind: str, *values: str) -> bool:
        return self.tok.kind == kind and (not values or self.tok.value in values)

    def _take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _fail(self, message: str, token: _Token | None = None) -> WhereError:
        token = token or self.tok
        found = "the end" if token.kind == "end" else repr(self.text[token.pos :].split()[0])
        return WhereError(f"{message}, found {found}", self.text, token.pos)

    def parse(self) -> _Node:
        if self._is("end"):
            raise WhereError("the expression is empty", self.text, 0)
        node = self._or()
        if not self._is("end"):
            raise self._fail("expected 'and', 'or' or the end of the expression")
        return node

    def _or(self) -> _Node:
        node = self._and()
        while self._is("kw", "or"):
            pos = self._take().pos
            node = _Op(pos, "or", (node, self._and()))
        return node

    def _and(self) -> _Node:
        node = self._not()
        while self._is("kw", "and"):
            pos = self._take().pos
            node = _Op(pos, "and", (node, self._not()))
        return node

    def _not(self) -> _Node:
        if self._is("kw", "not"):
            pos = self._take().pos
            return _Op(pos, "not", (self._not(),))
        return self._test()

    def _test(self) -> _Node:
        left = self._sum()
        token = self.tok
        if self._is("op", "==", "!=", "<", "<=", ">", ">="):
            self._take()
            return _Op(token.pos, token.value, (left, self._sum()))
        if self._is("kw", "is"):
            self._take()
            negated = self._is("kw", "not")
            if negated:
                self._take()
            if not self._is("kw", "null"):
                raise self._fail("expected 'null' after 'is'")
            self._take()
            return _Op(token.pos, "notnull" if negated else "isnull", (left,))
        negated = self._is("kw", "not")
        if negated:
            self._take()
            if not self._is("kw", "in", "contains", "matches"):
                raise self._fail("expected 'in', 'contains' or 'matches' after 'not'")
        if self._is("kw", "in"):
            self._take()
            return _In(token.pos, left, self._list(), negated)
        if self._is("kw", "contains", "matches"):
            op = self._take().value
            return _Op(token.pos, f"not {op}" if negated else op, (left, self._sum()))
        return left

    def _list(self) -> tuple[_Node, ...]:
        if not self._is("op", "[", "("):
            raise self._fail("expected a list such as [1, 2] after 'in'")
        closing = "]" if self._take().value == "[" else ")"
        items: list[_Node] = []
        while not self._is("op", closing):
            items.append(self._sum())
            if self._is("op", ","):
                self._take()
            elif not self._is("op", closing):
                raise self._fail(f"expected ',' or '{closing}' in the list")
        self._take()
        return tuple(items)

    def _sum(self) -> _Node:
        node = self._product()
        while self._is("op", "+", "-"):
            token = self._take()
            node = _Op(token.pos, token.value, (node, self._product()))
        return node

    def _product(self) -> _Node:
        node = self._unary()
        while self._is("op", "*", "/"):
            token = self._take()
            node = _Op(token.pos, token.value, (node, self._unary()))
        return node

    def _unary(self) -> _Node:
        if self._is("op", "-"):
            pos = self._take().pos
            return _Op(pos, "neg", (self._unary(),))
        return self._atom()

    def _atom(self) -> _Node:
        token = self.tok
        if token.kind in ("num", "str"):
            self._take()
            return _Literal(token.pos, token.value)
        if token.kind == "kw" and token.value in ("true", "false"):
            self._take()
            return _Literal(token.pos, token.value == "true")
        if token.kind == "name":
            self._take()
            return _Column(token.pos, token.value)
        if self._is("op", "("):
            self._take()
            node = self._or()
            if not self._is("op", ")"):
                raise self._fail("expected ')'")
            self._take()
            return node
        raise self._fail("expected a column name, a number or a 'string'")


# -- evaluation on a DataFrame -----------------------------------------------------------------
def _arith(op: str) -> Callable[[Any, Any], Any]:
    return {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[op]


class Where:
    """A parsed ``--where`` expression; :meth:`mask` evaluates it on a DataFrame.

    ``Where.parse(text, known=columns)`` also checks that every column exists, with a
    did-you-mean pointing at the unknown name.
    """

    def __init__(self, text: str, root: _Node) -> None:
        self.text = text
        self._root = root

    @classmethod
    def parse(cls, text: str, known: Collection[str] | None = None) -> Where:
        where = cls(text, _Parser(text).parse())
        if known is not None:
            where.check_columns(known)
        return where

    def _nodes(self, node: _Node | None = None) -> Iterator[_Node]:
        node = node or self._root
        yield node
        children: tuple[_Node, ...] = ()
        if isinstance(node, _Op):
            children = node.args
        elif isinstance(node, _In):
            children = (node.operand, *node.items)
        for child in children:
            yield from self._nodes(child)

    @property
    def columns(self) -> list[str]:
        """Column names the expression reads, in order of first use."""
        return list(dict.fromkeys(n.name for n in self._nodes() if isinstance(n, _Column)))

    def check_columns(self, known: Collection[str]) -> None:
        for node in self._nodes():
            if isinstance(node, _Column) and node.name not in known:
                close = difflib.get_close_matches(node.name, list(known), n=3, cutoff=0.6)
                hint = f"; did you mean {' or '.join(close)}?" if close else ""
                raise WhereError(f"unknown column {node.name!r}{hint}", self.text, node.pos)

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """Boolean Series over ``frame``'s rows; missing values count as False."""
        import pandas as pd

        self.check_columns(frame.columns)
        result = self._eval(self._root, frame)
        if not isinstance(result, pd.Series):
            result = pd.Series(result, index=frame.index)
        return self._truth(result, self._root)

    def _truth(self, value: Any, node: _Node) -> pd.Series:
        import pandas as pd

        if isinstance(value, pd.Series):
            if value.dtype == bool:
                return value
            if pd.api.types.is_bool_dtype(value) or (
                value.dtype == object and all(isinstance(v, bool) for v in value.dropna())
            ):
                return value.fillna(False).astype(bool)
            raise WhereError(
                f"this gives {value.dtype} values, not true/false: compare it with something",
                self.text,
                node.pos,
            )
        if isinstance(value, bool):
            return value  # type: ignore[return-value]
        raise WhereError("this is a value, not a condition", self.text, node.pos)

    def _eval(self, node: _Node, frame: pd.DataFrame) -> Any:
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Column):
            return frame[node.name]
        if isinstance(node, _In):
            bad = [item for item in node.items if not isinstance(item, _Literal)]
            if bad:
                raise WhereError("a list after 'in' holds constants only", self.text, bad[0].pos)
            operand = self._eval(node.operand, frame)
            items = [item.value for item in node.items if isinstance(item, _Literal)]
            if not hasattr(operand, "isin"):
                return (operand in items) != node.negated
            return (~operand.isin(items) & operand.notna()) if node.negated else operand.isin(items)
        assert isinstance(node, _Op)
        if node.op in ("and", "or", "not"):
            parts = [self._truth(self._eval(arg, frame), arg) for arg in node.args]
            if node.op == "not":
                return ~parts[0] if hasattr(parts[0], "__invert__") else not parts[0]
            return parts[0] & parts[1] if node.op == "and" else parts[0] | parts[1]
        args = [self._eval(arg, frame) for arg in node.args]
        try:
            return self._apply(node, args)
        except (TypeError, ValueError, re.error) as error:
            raise WhereError(self._type_message(node, args, error), self.text, node.pos) from None

    def _apply(self, node: _Node, args: list[Any]) -> Any:
        assert isinstance(node, _Op)
        op = node.op
        if op == "neg":
            return -args[0]
        if op in ("isnull", "notnull"):
            value = args[0]
            if not hasattr(value, "isna"):
                raise TypeError("'is null' applies to a column")
            return value.isna() if op == "isnull" else value.notna()
        if op.endswith(("contains", "matches")):
            value, pattern = args
            if not isinstance(pattern, str) or not hasattr(value, "str"):
                raise TypeError(
                    f"'{op}' needs a text column on the left and a 'string' on the right"
                )
            if op.endswith("matches"):
                re.compile(pattern)
            found = value.astype("string").str.contains(pattern, regex=op.endswith("matches"))
            return (~found if op.startswith("not") else found).fillna(False).astype(bool)
        kinds = {_is_text(args[0]), _is_text(args[1])}
        if op in ("==", "!=", "<", "<=", ">", ">=") and kinds == {True, False}:
            raise TypeError("text and numbers do not compare")
        result = _arith(op)(*args)
        if op in ("==", "!=", "<", "<=", ">", ">=") and hasattr(result, "fillna"):
            result = result.fillna(False).astype(bool)
            if op == "!=":  # a missing value is not "different": it fails like every test
                missing = [a.isna() for a in args if hasattr(a, "isna")]
                for m in missing:
                    result &= ~m
        return result

    @staticmethod
    def _type_message(node: _Node, args: list[Any], error: Exception) -> str:
        assert isinstance(node, _Op)
        if isinstance(error, re.error):
            return f"bad regular expression: {error}"
        kinds = [_kind(arg) for arg in args]
        if node.op.endswith(("contains", "matches", "null")):
            return str(error)
        return f"'{node.op}' cannot combine {' and '.join(kinds)}"


def _is_text(value: Any) -> bool | None:
    """True for text, False for numbers, None for an all-missing column (it fits either)."""
    import pandas as pd

    if not isinstance(value, pd.Series):
        return isinstance(value, str)
    if pd.api.types.is_numeric_dtype(value) or pd.api.types.is_bool_dtype(value):
        return False
    first = value.dropna().head(1)
    return None if first.empty else isinstance(first.iloc[0], str)


def _kind(value: Any) -> str:
    import pandas as pd

    if isinstance(value, pd.Series):
        if pd.api.types.is_numeric_dtype(value) and not pd.api.types.is_bool_dtype(value):
            return f"the number column {value.name!r}"
        return f"the text column {value.name!r}"
    return "a number" if isinstance(value, int | float) else f"the {type(value).__name__} {value!r}"
