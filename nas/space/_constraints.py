"""Constraint expressions: a small safe language over an architecture's derived quantities.

A constraint is parsed once by a hand-written tokenizer and recursive-descent parser (nothing
is ever handed to Python's ``eval``) and checked against an ArchSpec with the figures of
``nas.compute``. Grammar, loosest binding first::

    constraint := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | compare
    compare    := sum (("<=" | "<" | ">=" | ">" | "==" | "!=") sum)*     # chains: 1M <= params <= 2M
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER [UNIT] | NAME | NAME "(" sum ")" | "(" or ")"

Numbers may use ``e`` notation and ``_`` separators; units K M G T (powers of 1000) and KiB
MiB GiB TiB (powers of 1024) scale the number before them. Names and functions are listed in
:data:`VARIABLES` and :data:`FUNCTIONS`; function arguments are constant positive integers.

Example:
    >>> from nas.arch import ArchSpec
    >>> c = parse_constraint("n_attention <= 1 and attention_fraction < 0.5")
    >>> c.holds(ArchSpec(layout="MMMA"))
    True
    >>> parse_constraint("state_bytes(8192) <= 4 MiB").calls
    (('state_bytes', 8192),)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nas import compute
from nas.arch import ArchSpec
from nas.errors import UserError, did_you_mean
from nas.units import UNITS, short_figure

# name -> (meaning, value for an architecture)
VARIABLES: dict[str, tuple[str, Callable[[ArchSpec], float]]] = {
    "params": ("total parameter count", compute.param_count),
    "non_embedding_params": (
        "parameters without the token embedding (and untied head)",
        compute.non_embedding_params,
    ),
    "n_layers": ("mixer layers (M and A blocks)", lambda a: a.n_layers),
    "n_ssm": ("SSM (M) blocks", lambda a: a.n_ssm),
    "n_attention": ("attention (A) blocks", lambda a: a.n_attention),
    "n_mlp": ("MLP (F) blocks", lambda a: a.n_mlp),
    "attention_fraction": ("n_attention / n_layers", lambda a: a.attention_fraction),
    "d_model": ("model width", lambda a: a.d_model),
    "vocab_size": ("vocabulary size", lambda a: a.vocab_size),
}

# name -> (argument, meaning, value for an architecture and the argument)
FUNCTIONS: dict[str, tuple[str, str, Callable[[ArchSpec, int], float]]] = {
    "train_flops_per_token": (
        "seq_len",
        "training FLOPs per token at a sequence length",
        compute.train_flops_per_token,
    ),
    "prefill_flops": ("context", "forward FLOPs to process a context", compute.prefill_flops),
    "decode_flops_per_token": (
        "context",
        "FLOPs to decode one token after a context",
        compute.decode_flops_per_token,
    ),
    "state_bytes": (
        "context",
        "inference state at a context: KV cache + SSM and conv state, 2 bytes per value",
        compute.state_bytes,
    ),
}

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
    "!=": operator.ne,
}
_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}
_KEYWORDS = ("and", "or", "not")
_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|[<>+\-*/(),])"
)


class ConstraintError(UserError):
    """A constraint that cannot be parsed; ``column`` is the 0-based position in ``text``."""

    def __init__(self, message: str, text: str, column: int) -> None:
        super().__init__(f"{message} (in {text!r}, column {column + 1})")
        self.message = message
        self.text = text
        self.column = column


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, end
    text: str
    pos: int
    value: float = 0.0


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint; ``text`` is as written.

    ``names`` and ``calls`` are the variables and (function, argument) pairs it reads.
    """

    text: str
    tree: tuple = field(repr=False)
    names: tuple[str, ...] = ()
    calls: tuple[tuple[str, int], ...] = ()

    def holds(self, arch: ArchSpec) -> bool:
        """Whether ``arch`` satisfies the constraint (a division by zero does not)."""
        return self.violation(arch) is None

    def quantities(self, arch: ArchSpec) -> dict[str, float]:
        """The value of each name and call the constraint reads, e.g. ``{"params": 1.2e6}``."""
        values = {name: float(VARIABLES[name][1](arch)) for name in self.names}
        for name, arg in self.calls:
            values[f"{name}({arg})"] = float(FUNCTIONS[name][2](arch, arg))
        return values

    def violation(self, arch: ArchSpec) -> str | None:
        """None when ``arch`` satisfies the constraint, else why not, with the values read."""
        values = self.quantities(arch)
        try:
            ok = _evaluate(self.tree, values)
        except ZeroDivisionError:
            ok, why = False, "division by zero"
        else:
            why = ", ".join(f"{key} = {short_figure(value, key)}" for key, value in values.items())
        return None if ok else f"{self.text}  [{why}]" if why else self.text


def parse_constraint(text: str) -> Constraint:
    """Parse one constraint; errors raise :class:`ConstraintError` with the column.

    >>> parse_constraint("params <= 2e6").names
    ('params',)
    >>> parse_constraint("parms <= 2e6")
    Traceback (most recent call last):
    ...
    nas.space._constraints.ConstraintError: unknown name 'parms' (did you mean 'params'?) (in 'parms <= 2e6', column 1)
    """
    parser = _Parser(text)
    tree = parser.constraint()
    return Constraint(
        text=text.strip(),
        tree=tree,
        names=tuple(dict.fromkeys(parser.names)),
        calls=tuple(dict.fromkeys(parser.calls)),
    )


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ConstraintError(f"unexpected character {text[pos]!r}", text, pos)
        kind, start, pos = match.lastgroup, match.start(), match.end()
        word = match.group()
        if kind == "space":
            continue
        if kind == "number":
            value = float(word.replace("_", ""))
            unit = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)").match(text, pos)
            if unit and unit.group(1) not in _KEYWORDS:
                name = unit.group(1)
                if name not in UNITS:
                    raise ConstraintError(
                        f"unknown unit {name!r}{did_you_mean(name, UNITS)}: use K, M, G, T "
                        "(powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)",
                        text,
                        unit.start(1),
                    )
                value *= UNITS[name]
                pos = unit.end()
                word = text[start:pos]
            tokens.append(_Token("number", word, start, value))
        else:
            tokens.append(_Token(kind or "op", word, start))
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the token list. Trees are tuples; types are checked while parsing:
    arithmetic and comparisons take numbers, and/or/not take truth values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.names: list[str] = []
        self.calls: list[tuple[str, int]] = []

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, message: str, token: _Token | None = None) -> ConstraintError:
        return ConstraintError(message, self.text, (token or self.tok).pos)

    def take(self, *texts: str) -> _Token | None:
        if self.tok.kind in ("op", "name") and self.tok.text in texts:
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def constraint(self) -> tuple:
        if self.tok.kind == "end":
            raise self.error("empty constraint: write a comparison such as 'params <= 2e6'")
        start = self.tok
        tree = self.logic_or()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r}: expected an operator or the end")
        if not _is_bool(tree):
            raise self.error(
                "a constraint must be a comparison such as 'params <= 2e6' (and/or of comparisons)",
                start,
            )
        return tree

    def logic_or(self) -> tuple:
        tree = self.logic_and()
        while op := self.take("or"):
            tree = ("or", self._truth(tree, op), self._truth(self.logic_and(), op))
        return tree

    def logic_and(self) -> tuple:
        tree = self.logic_not()
        while op := self.take("and"):
            tree = ("and", self._truth(tree, op), self._truth(self.logic_not(), op))
        return tree

    def logic_not(self) -> tuple:
        if op := self.take("not"):
            return ("not", self._truth(self.logic_not(), op))
        return self.compare()

    def compare(self) -> tuple:
        first = self.sum()
        ops: list[str] = []
        operands = [first]
        while op := self.take(*_COMPARE):
            ops.append(op.text)
            operands.append(self.sum())
        if not ops:
            return first
        for operand in operands:
            self._number(operand, op)
        return ("compare", tuple(ops), tuple(operands))

    def sum(self) -> tuple:
        tree = self.product()
        while op := self.take("+", "-"):
            tree = ("arith", op.text, self._number(tree, op), self._number(self.product(), op))
        return tree

    def product(self) -> tuple:
        tree = self.unary()
        while op := self.take("*", "/"):
            tree = ("arith", op.text, self._number(tree, op), self._number(self.unary(), op))
        return tree

    def unary(self) -> tuple:
        if op := self.take("-"):
            return ("neg", self._number(self.unary(), op))
        return self.atom()

    def atom(self) -> tuple:
        tok = self.tok
        if tok.kind == "number":
            self.i += 1
            return ("num", tok.value)
        if self.take("("):
            tree = self.logic_or()
            if not self.take(")"):
                raise self.error("missing ')'")
            return tree
        if tok.kind == "name" and tok.text not in _KEYWORDS:
            self.i += 1
            if self.tok.kind == "op" and self.tok.text == "(":
                return self.call(tok)
            if tok.text in FUNCTIONS:
                arg = FUNCTIONS[tok.text][0]
                raise self.error(f"{tok.text} needs its {arg}, as in {tok.text}(1024)", tok)
            if tok.text not in VARIABLES:
                raise self.error(
                    f"unknown name {tok.text!r}{did_you_mean(tok.text, [*VARIABLES, *FUNCTIONS])}",
                    tok,
                )
            self.names.append(tok.text)
            return ("var", tok.text)
        if tok.kind == "end":
            raise self.error("the constraint ends too early: expected a number, name or '('")
        raise self.error(f"unexpected {tok.text!r}: expected a number, name or '('")

    def call(self, name_tok: _Token) -> tuple:
        name = name_tok.text
        if name not in FUNCTIONS:
            known = did_you_mean(name, [*FUNCTIONS, *VARIABLES])
            raise self.error(f"unknown function {name!r}{known}", name_tok)
        self.take("(")
        arg_tok = self.tok
        arg_name = FUNCTIONS[name][0]
        if self.tok.kind == "op" and self.tok.text == ")":
            raise self.error(f"{name} needs its {arg_name}, as in {name}(1024)")
        tree = self.sum()
        if self.take(","):
            raise self.error(f"{name} takes one argument ({arg_name})", self.tokens[self.i - 1])
        if not self.take(")"):
            raise self.error("missing ')'")
        if not _is_constant(tree):
            raise self.error(f"the {arg_name} of {name} must be a constant number", arg_tok)
        value = _evaluate(tree, {})
        if value < 1 or value != math.floor(value):
            raise self.error(f"the {arg_name} of {name} must be a positive integer", arg_tok)
        self.calls.append((name, int(value)))
        return ("call", f"{name}({int(value)})")

    def _number(self, tree: tuple, op: _Token) -> tuple:
        if _is_bool(tree):
            raise self.error(f"{op.text!r} needs numbers on both sides, not a comparison", op)
        return tree

    def _truth(self, tree: tuple, op: _Token) -> tuple:
        if not _is_bool(tree):
            raise self.error(
                f"{op.text!r} joins comparisons, as in 'params < 1M and n_attention >= 1'", op
            )
        return tree


def _is_bool(tree: tuple) -> bool:
    return tree[0] in ("compare", "and", "or", "not")


def _is_constant(tree: tuple) -> bool:
    if tree[0] == "num":
        return True
    if tree[0] == "neg":
        return _is_constant(tree[1])
    return tree[0] == "arith" and _is_constant(tree[2]) and _is_constant(tree[3])


def _evaluate(tree: tuple, values: dict[str, float]) -> Any:
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind in ("var", "call"):
        return values[tree[1]]
    if kind == "neg":
        return -_evaluate(tree[1], values)
    if kind == "arith":
        return _ARITH[tree[1]](_evaluate(tree[2], values), _evaluate(tree[3], values))
    if kind == "compare":
        operands = [_evaluate(t, values) for t in tree[2]]
        return all(
            _COMPARE[op](left, right)
            for op, left, right in zip(tree[1], operands, operands[1:], strict=False)
        )
    if kind == "and":
        return _evaluate(tree[1], values) and _evaluate(tree[2], values)
    if kind == "or":
        return _evaluate(tree[1], values) or _evaluate(tree[2], values)
    assert kind == "not", kind
    return not _evaluate(tree[1], values)
