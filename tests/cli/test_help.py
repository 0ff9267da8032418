"""Every command's --help ends with examples that parse; shell completion works in bash."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from nas.cli import build_parser, main
from nas.cli._help import EXAMPLES, commands


def _argv(example: str) -> list[str]:
    """The arguments of an example as the shell passes them: no comment, no redirection."""
    words = shlex.split(example, comments=True)
    if ">" in words:
        words = words[: words.index(">")]
    assert words[0] == "nas"
    return words[1:]


def test_every_command_has_examples_and_each_parses() -> None:
    every = dict(commands(build_parser([])))
    assert set(every) == set(EXAMPLES)
    for path, command in every.items():
        assert "examples:" in command.format_help(), path
        for example in EXAMPLES[path]:
            argv = _argv(example)
            assert " ".join(argv).startswith(path), example
            build_parser(argv).parse_args(argv)  # exits (SystemExit) on a bad example


def test_examples_end_the_help(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["db", "pareto", "--help"])
    out = capsys.readouterr().out
    assert out.rstrip().endswith(EXAMPLES["db pareto"][-1])
    assert "--where language:" in out  # multi-line epilogs keep their lines


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_commands_and_flags(capsys, tmp_path) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "nas.bash"
    script.write_text(capsys.readouterr().out)

    def complete(*words: str) -> list[str]:
        line = " ".join(shlex.quote(w) for w in words)
        probe = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
                 '_shtab_nas; printf "%s\\n" "${COMPREPLY[@]}"')  # fmt: skip
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("nas", "db", "pa") == ["pareto"]
    assert "init" in complete("nas", "") and "completion" in complete("nas", "")
    assert complete("nas", "db", "trials", "quickstart", "--each") == ["--each-trial"]
    assert complete("nas", "db", "pareto", "x", "--format", "mark") == ["markdown"]


def test_zsh_script(capsys) -> None:
    assert main(["completion", "zsh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#compdef nas") and "pareto" in out
