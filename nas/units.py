"""Unit suffixes and short numbers: what constraints parse (``4 MiB``, ``2M``) is what
progress lines, constraint messages and tables print.

A figure whose name contains ``bytes`` is binary (KiB, MiB, ...); any other is decimal.
"""

from __future__ import annotations

UNITS = {
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}
_BINARY = ("TiB", "GiB", "MiB", "KiB")
_DECIMAL = ("T", "G", "M", "K")


def short_figure(value: float | None, name: str = "") -> str:
    """Three significant digits with a unit: ``1.23M``, ``4.02 MiB`` for byte figures,
    ``0.812`` or ``887`` below a thousand, ``-`` for no value.

    >>> short_figure(2112320, "state_bytes"), short_figure(887424.0), short_figure(0.81234)
    ('2.01 MiB', '887K', '0.812')
    >>> short_figure(512, "kv_bytes"), short_figure(96), short_figure(None)
    ('512 B', '96', '-')
    """
    if value is None:
        return "-"
    binary = "bytes" in name
    for unit in _BINARY if binary else _DECIMAL:
        if abs(value) >= UNITS[unit]:
            return f"{value / UNITS[unit]:.3g}{' ' if binary else ''}{unit}"
    if binary:
        return f"{value:.0f} B"
    return f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"
