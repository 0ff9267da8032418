"""The examples in the docstrings of nas and kernels run, and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import kernels
import nas

MODULES = [
    "nas",
    "kernels",
    *sorted(
        info.name
        for package in (nas, kernels)
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
        if not info.name.endswith(".__main__")  # importing it runs the CLI
    ),
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert outcome.failed == 0, f"{outcome.failed} docstring example(s) of {name} failed (above)"
