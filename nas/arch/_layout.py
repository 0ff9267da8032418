"""Layout strings: the compact pattern grammar and the ratio/placement form.

A canonical layout is a string over three block letters, one letter per residual block:

    M   SSM mixer (Mamba-1 or Mamba-2, as the ArchSpec's ``ssm.kind`` says)
    A   causal self-attention mixer
    F   MLP (feed-forward)

Patterns accept more than the canonical letters so that users can paste them:

    *   attention (Megatron / Nemotron-H hybrid pattern alphabet)
    -   MLP       (Megatron / Nemotron-H)
    ( ) grouping, ``x N`` repetition, whitespace and ``|`` as visual separators

Examples::

    >>> parse_layout("(MMMA)x2")
    'MMMAMMMA'
    >>> parse_layout("M-M-M*-")
    'MFMFMAF'
    >>> parse_layout("(Mx3 A)x2")
    'MMMAMMMA'
    >>> layout_from_ratio(8, "3:1", "interleave")
    'MMMAMMMA'
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

SSM, ATTENTION, MLP = "M", "A", "F"
MIXERS = (SSM, ATTENTION)
BLOCK_LETTERS = (SSM, ATTENTION, MLP)
_ALIASES = {"M": SSM, "A": ATTENTION, "*": ATTENTION, "F": MLP, "-": MLP}
_SEPARATORS = " \t\n|_"

Placement = Literal["interleave", "middle", "start", "end"]
PLACEMENTS: tuple[Placement, ...] = ("interleave", "middle", "start", "end")


class LayoutError(ValueError):
    """A pattern or ratio that cannot be turned into a layout.

    ``column`` is the 0-based position in the pattern where the problem was found, or None.
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def parse_layout(pattern: str) -> str:
    """Expand a layout pattern into its canonical string of M/A/F letters.

    Grammar (``x`` binds to the atom or group just before it)::

        sequence := item*
        item     := (letter | "(" sequence ")") ["x" count]
        letter   := M | A | * | F | -
    """
    parser = _PatternParser(pattern)
    layout = parser.sequence(closing=None)
    if not layout:
        raise LayoutError("the layout is empty: give at least one block (M, A/*, F/-)", 0)
    if not any(letter in MIXERS for letter in layout):
        raise LayoutError("the layout has no mixer: it needs at least one M or A (*) block", 0)
    return layout


class _PatternParser:
    """A small recursive-descent parser; positions are kept for error messages."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SEPARATORS:
            self.pos += 1

    def sequence(self, closing: str | None) -> str:
        out: list[str] = []
        while True:
            self._skip()
            if self.pos >= len(self.text):
                if closing is not None:
                    raise LayoutError(f"missing '{closing}' to close the group", self.pos)
                return "".join(out)
            char = self.text[self.pos]
            if char == closing:
                return "".join(out)
            if char == ")":
                raise LayoutError("')' without a matching '('", self.pos)
            if char == "(":
                start = self.pos
                self.pos += 1
                inner = self.sequence(closing=")")
                self.pos += 1  # the ')'
                if not inner:
                    raise LayoutError("empty group '()'", start)
                item = inner
            elif char in _ALIASES:
                item = _ALIASES[char]
                self.pos += 1
            else:
                raise LayoutError(
                    f"unexpected {char!r}: use M (SSM), A or * (attention), F or - (MLP), "
                    "( ) for groups and xN to repeat",
                    self.pos,
                )
            out.append(item * self._repeat())

    def _repeat(self) -> int:
        save = self.pos
        self._skip()
        if self.pos < len(self.text) and self.text[self.pos] in "xX":
            self.pos += 1
            self._skip()
            start = self.pos
            while self.pos < len(self.text) and self.text[self.pos].isdigit():
                self.pos += 1
            if start == self.pos:
                raise LayoutError("'x' must be followed by a repeat count, as in (MMMA)x4", start)
            count = int(self.text[start : self.pos])
            if count < 1:
                raise LayoutError("a repeat count must be at least 1", start)
            return count
        self.pos = save
        return 1


def parse_ratio(ratio: str) -> tuple[int, int]:
    """Parse ``"S:A"`` (SSM:attention) into two non-negative integers, not both zero."""
    parts = str(ratio).split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise LayoutError(
            f"ratio {ratio!r} must look like 'S:A', for example '3:1', '1:0' or '0:1'"
        )
    ssm, attn = (int(p) for p in parts)
    if ssm == 0 and attn == 0:
        raise LayoutError("ratio '0:0' has no layers")
    return ssm, attn


def layout_from_ratio(
    n_layers: int, ratio: str, placement: Placement = "interleave", mlp: bool = False
) -> str:
    """Lay out ``n_layers`` mixers at an SSM:attention ``ratio``.

    ``interleave`` spreads the attention layers evenly, each closing its group (3:1 on 8
    layers gives MMMAMMMA); ``middle``, ``start`` and ``end`` put them in one contiguous
    run there. With ``mlp`` an F block follows every mixer.
    """
    if n_layers < 1:
        raise LayoutError(f"n_layers must be at least 1, got {n_layers}")
    ssm, attn = parse_ratio(ratio)
    n_attn = Fraction(n_layers * attn, ssm + attn)
    if n_attn.denominator != 1:
        raise LayoutError(
            f"ratio {ratio} cannot be laid out on {n_layers} layers: it needs a multiple of "
            f"{(ssm + attn) // _gcd(ssm, attn)} layers"
        )
    n_attn_int = int(n_attn)
    if placement == "interleave":
        positions = (
            {round((i + 1) * n_layers / n_attn_int) - 1 for i in range(n_attn_int)}
            if n_attn_int
            else set()
        )
    elif placement == "start":
        positions = set(range(n_attn_int))
    elif placement == "end":
        positions = set(range(n_layers - n_attn_int, n_layers))
    elif placement == "middle":
        first = (n_layers - n_attn_int) // 2
        positions = set(range(first, first + n_attn_int))
    else:
        raise LayoutError(f"placement {placement!r} is not one of {', '.join(PLACEMENTS)}")
    mixers = [ATTENTION if i in positions else SSM for i in range(n_layers)]
    return "".join(m + MLP if mlp else m for m in mixers)


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def reduced_ratio(layout: str) -> str:
    """The SSM:attention ratio of a layout in lowest terms, e.g. ``"3:1"``, ``"1:0"``."""
    ssm, attn = layout.count(SSM), layout.count(ATTENTION)
    g = _gcd(ssm, attn) or 1
    return f"{ssm // g}:{attn // g}"
