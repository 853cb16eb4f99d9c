"""Tests for course.submission: checkpoints saved by students, loaded safely for grading."""
from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from course.submission import CheckpointError, checkpoint_info, load_model, save_model


def _net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))


def test_round_trip_in_float16(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("COURSE_FAST", raising=False)
    torch.manual_seed(0)
    model = _net()
    path = save_model(model, tmp_path / "m.pt")
    info = checkpoint_info(path)
    assert info["fast"] is False and info["parameters"] == 6 * 4 + 4 + 4 * 2 + 2
    loaded = load_model(_net, path)
    assert not loaded.training
    for p, q in zip(model.parameters(), loaded.parameters()):
        assert q.dtype == torch.float32
        torch.testing.assert_close(p, q, atol=1e-3, rtol=1e-3)  # float16 storage


def test_fast_mode_keeps_a_full_mode_checkpoint(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("COURSE_FAST", raising=False)
    path = save_model(_net(), tmp_path / "m.pt")
    before = path.read_bytes()
    monkeypatch.setenv("COURSE_FAST", "1")
    save_model(_net(), path)
    assert path.read_bytes() == before
    # With no full-mode file, fast mode writes one, marked as fast.
    other = save_model(_net(), tmp_path / "fast.pt")
    assert checkpoint_info(other)["fast"] is True


def test_clear_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_model(_net, tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_model(_net, tmp_path / "junk.pt")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not written by course.save_model"):
        load_model(_net, tmp_path / "plain.pt")
    save_model(_net(), tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(lambda: nn.Linear(6, 2), tmp_path / "m.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_loading_never_runs_code(tmp_path, capsys) -> None:
    # weights_only=True refuses pickled callables instead of executing them.
    path = tmp_path / "evil.pt"
    with path.open("wb") as fh:
        pickle.dump({"meta": {"format": "course-checkpoint-1"}, "state_dict": _Evil()}, fh)
    with pytest.raises(CheckpointError):
        load_model(_net, path)
    assert "code ran" not in capsys.readouterr().out


def test_build_kwargs_rebuild_the_saved_architecture(tmp_path) -> None:
    def build(widen: int = 1) -> nn.Module:
        return nn.Linear(3, 2 * widen)

    wide = build(widen=3)
    path = save_model(wide, tmp_path / "wide.pt", build_kwargs={"widen": 3})
    assert checkpoint_info(path)["build_kwargs"] == {"widen": 3}
    loaded = load_model(build, path)
    assert loaded.out_features == 6
    torch.testing.assert_close(loaded.weight, wide.weight.half().float())
    with pytest.raises(CheckpointError, match="build_kwargs=.*widen"):
        load_model(lambda: nn.Linear(3, 6), path)
    with pytest.raises(TypeError, match="plain ints"):
        save_model(wide, tmp_path / "bad.pt", build_kwargs={"widen": [3]})
