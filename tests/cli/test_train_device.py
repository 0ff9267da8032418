"""``nas train --device``: a device torch cannot use here fails before anything is built or
printed, with exit 2 and one line (the same check, ``nas.proxy.check_device``, as evaluate's)."""

from __future__ import annotations

import pytest
import torch

import nas.cli.train
from nas.cli import main
from nas.errors import UserError
from nas.proxy import check_device

ARGS = ["train", "--arch", "MMMA", "--task", "mqar:num_kv_pairs=2,seq_len=16", "--steps", "2"]


def _no_training(*args, **kwargs):
    raise AssertionError("training started")


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_cuda_without_cuda_exits_2_before_training(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], json_flag: list[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(nas.cli.train, "evaluate", _no_training)
    assert main([*ARGS, "--device", "cuda", *json_flag]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # not even the architecture's header
    assert err == "error: device cuda was asked for, but torch sees no CUDA device here\n"


def test_malformed_device_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--device", "tpu"]) == 2
    assert capsys.readouterr().err == "error: unknown device 'tpu': use cpu, cuda or cuda:N\n"


def test_check_device_counts_cuda_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(UserError, match=r"device cuda:2 was asked for, but torch sees 2 CUDA"):
        check_device("cuda:2")
    assert check_device("cpu") == torch.device("cpu")
