"""The examples that end each command's ``--help``, kept in one place (a test parses each)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

# command path -> examples, as a user types them (from a folder that `nas init` wrote)
EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": ("nas init my-study", "nas init            # into the current folder"),
    "space validate": ("nas space validate search_spaces/*.yaml",),
    "space show": ("nas space show search_spaces/hybrid_ratio.yaml",),
    "space sample": ("nas space sample search_spaces/hybrid_ratio.yaml -n 5 --seed 1",),
    "space grid": ("nas space grid search_spaces/quickstart.yaml --context 32768",),
    "arch show": ("nas arch show '(MMMA)x2' --d-model 128 --d-state 64 --context 32768",),
    "train": (
        'nas train --arch "(MMMA)x1" --task mqar:num_kv_pairs=2,seq_len=16,vocab_size=16 '
        "--steps 150",
        "nas train --space search_spaces/quickstart.yaml --sample-seed 3 --task byte_lm "
        "--steps 100 --json",
    ),
    "run": (
        "nas run studies/quickstart.yaml",
        "nas run studies/ratio_sweep.yaml --storage postgresql+psycopg://me@db-host/nas "
        "--ray-address 10.0.0.1:6380",
    ),
    "fidelity": (
        "nas fidelity studies/quickstart.yaml            # its budget against 4x it, 2 seeds",
        "nas fidelity studies/quickstart.yaml --factor 2 --architectures all --seeds 3",
    ),
    "db fidelity": (
        "nas db fidelity quickstart",
        "nas db fidelity quickstart --format csv --out fidelity.csv",
    ),
    "db studies": ("nas db studies --storage sqlite:///runs/quickstart.db",),
    "db trials": (
        "nas db trials quickstart --where \"family == 'hybrid'\" --sort -capability --limit 10",
        "nas db trials quickstart --each-trial --format csv > trials.csv",
    ),
    "db pareto": (
        "nas db pareto quickstart",
        "nas db pareto quickstart --objective capability:max --objective state_bytes:min "
        "--format markdown",
    ),
    "db show": ("nas db show quickstart 7", "nas db show quickstart 7 --format json"),
    "db arch": ("nas db arch 7fbfe2b5            # a hash prefix, from nas db trials",),
    "db compare": ("nas db compare quickstart quickstart_mf",),
    "db columns": ("nas db columns quickstart",),
    "db export": ("nas db export quickstart --out trials.parquet",),
    "db sql": ('nas db sql "SELECT task, COUNT(*) AS n FROM evaluations GROUP BY task"',),
    "db upgrade": ("nas db upgrade --storage sqlite:///runs/quickstart.db",),
    "db delete": ("nas db delete quickstart --yes",),
    "report": (
        "nas report quickstart -o report.html",
        "nas report quickstart -o report.html --png plots/ --context 32768",
    ),
    "bench": ("nas bench db", "nas bench kernels"),
    "completion": (
        "nas completion bash > ~/.local/share/bash-completion/completions/nas",
        "nas completion zsh > ~/.zfunc/_nas     # with fpath+=~/.zfunc in ~/.zshrc",
    ),
}


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, except that text laid out over several lines (examples, the
    --where reference) keeps its lines; one-line descriptions still wrap."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_examples(parser: argparse.ArgumentParser) -> None:
    """End every command's help with its examples (for the commands this parser holds)."""
    for path, command in commands(parser):
        command.formatter_class = Formatter
        examples = EXAMPLES.get(path)
        if examples:
            shown = "examples:\n" + "\n".join(f"  {line}" for line in examples)
            command.epilog = f"{command.epilog}\n\n{shown}" if command.epilog else shown


def commands(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command of ``parser`` that runs something: ("db trials", its parser), ..."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
        return
    for name, sub in groups[0].choices.items():
        yield from commands(sub, f"{path} {name}".strip())
