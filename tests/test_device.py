"""Tests for course.device: device choice, overrides, messages and seeding."""
from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from course import device as dev
from course.device import describe_device, get_device, seed_everything


@pytest.fixture
def no_accelerators(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this machine has neither CUDA nor MPS, whatever it really has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    monkeypatch.delenv(dev.ENV_VAR, raising=False)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend there is exactly one CUDA GPU, so the CUDA paths run on a CPU-only machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    props = SimpleNamespace(name="NVIDIA Fake 80GB", total_memory=80 * 2**30)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    monkeypatch.delenv(dev.ENV_VAR, raising=False)


def test_cpu_fallback_and_message(no_accelerators: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert get_device() == torch.device("cpu")
    out = capsys.readouterr().out
    assert out == "course: using cpu (no CUDA or MPS available)\n"


def test_verbose_false_prints_nothing(no_accelerators: None, capsys: pytest.CaptureFixture[str]) -> None:
    get_device(verbose=False)
    assert capsys.readouterr().out == ""


def test_cuda_preferred_when_present(fake_cuda: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert get_device() == torch.device("cuda", 0)
    out = capsys.readouterr().out.strip()
    assert out.startswith("course: using cuda:0 (NVIDIA Fake 80GB, 80 GiB)")
    assert out.count("\n") == 0  # exactly one line


def test_mps_used_when_no_cuda(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    monkeypatch.delenv(dev.ENV_VAR, raising=False)
    assert get_device() == torch.device("mps")
    assert "using mps" in capsys.readouterr().out


def test_env_override(fake_cuda: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(dev.ENV_VAR, "cpu")
    assert get_device() == torch.device("cpu")
    assert capsys.readouterr().out.strip() == "course: using cpu — COURSE_DEVICE=cpu"


def test_env_cuda_names_the_gpu(fake_cuda: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(dev.ENV_VAR, "cuda")
    assert get_device() == torch.device("cuda", 0)
    assert capsys.readouterr().out.strip() == "course: using cuda:0 (NVIDIA Fake 80GB, 80 GiB) — COURSE_DEVICE=cuda"


def test_prefer_beats_env(no_accelerators: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dev.ENV_VAR, "mps")  # unavailable, but prefer wins so it is never consulted
    assert get_device("cpu", verbose=False) == torch.device("cpu")
    assert get_device(torch.device("cpu"), verbose=False) == torch.device("cpu")


def test_auto_and_empty_env_mean_automatic(no_accelerators: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("", "auto", "AUTO"):
        monkeypatch.setenv(dev.ENV_VAR, value)
        assert get_device(verbose=False) == torch.device("cpu")


def test_unavailable_cuda_raises(no_accelerators: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dev.ENV_VAR, "cuda")
    with pytest.raises(RuntimeError) as info:
        get_device(verbose=False)
    message = str(info.value)
    assert "COURSE_DEVICE=cuda" in message and "Available here: cpu" in message


def test_cuda_index_out_of_range(fake_cuda: None) -> None:
    with pytest.raises(RuntimeError, match=r"'cuda:1'.*only 1 CUDA device.*cpu, cuda:0"):
        get_device("cuda:1", verbose=False)


def test_unavailable_mps_raises(no_accelerators: None) -> None:
    with pytest.raises(RuntimeError, match="MPS"):
        get_device("mps", verbose=False)


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu"])
def test_malformed_name_raises_value_error(no_accelerators: None, name: str) -> None:
    with pytest.raises(ValueError, match=repr(name)):
        get_device(name, verbose=False)


def test_describe_device_cpu(no_accelerators: None) -> None:
    text = describe_device()
    assert text.startswith("cpu")
    assert f"{torch.get_num_threads()} CPU threads" in text
    assert torch.__version__ in text


def test_describe_device_cuda(fake_cuda: None) -> None:
    text = describe_device("cuda")
    assert "cuda:0 NVIDIA Fake 80GB (80.0 GiB)" in text and torch.__version__ in text


def _draws() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_reproducible() -> None:
    g1 = seed_everything(123)
    first = _draws()
    from_g1 = torch.rand(2, generator=g1).tolist()
    g2 = seed_everything(123)
    second = _draws()
    from_g2 = torch.rand(2, generator=g2).tolist()
    assert first == second
    assert from_g1 == from_g2
    assert isinstance(g1, torch.Generator) and g1 is not g2

    seed_everything(124)
    third = _draws()
    for a, b in zip(first, third):
        assert a != b


def test_seed_everything_rejects_bad_seeds() -> None:
    with pytest.raises(ValueError):
        seed_everything(-1)
    with pytest.raises(TypeError):
        seed_everything(1.5)  # type: ignore[arg-type]


def test_autocast_picks_bfloat16_where_the_hardware_runs_it(monkeypatch) -> None:
    import course.device as dev

    monkeypatch.setattr(dev, "_cpu_bf16", lambda: True)
    assert dev.autocast_dtype("cpu") is torch.bfloat16
    with dev.autocast("cpu"):
        out = torch.nn.Linear(4, 3)(torch.randn(2, 4))
    assert out.dtype is torch.bfloat16
    with dev.autocast("cpu", enabled=False):
        assert torch.nn.Linear(4, 3)(torch.randn(2, 4)).dtype is torch.float32

    monkeypatch.setattr(dev, "_cpu_bf16", lambda: False)
    assert dev.autocast_dtype("cpu") is None
    with dev.autocast("cpu"):
        assert torch.nn.Linear(4, 3)(torch.randn(2, 4)).dtype is torch.float32

    # CUDA paths, with torch.cuda patched (no GPU here: untested on real hardware).
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert dev.autocast_dtype("cuda") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert dev.autocast_dtype("cuda") is None
    assert dev.autocast_dtype("mps") is None


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, False), (True, False, True), (False, True, True)])
def test_cpu_bfloat16_only_where_it_runs_natively(monkeypatch, avx512_bf16, amx, expected) -> None:
    # AVX-512 without BF16 or AMX emulates bfloat16 (half float32's speed), though mkldnn calls it supported.
    import course.device as dev

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert dev._cpu_bf16() is expected
    assert dev.autocast_dtype("cpu") is (torch.bfloat16 if expected else None)
