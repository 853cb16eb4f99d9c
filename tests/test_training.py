"""Tests for course.training: History, best-epoch weights, Timer, progress bars."""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from course.training import History, Timer, epochs, progress


def _model(value: float) -> nn.Module:
    m = nn.Linear(2, 1)
    with torch.no_grad():
        m.weight.fill_(value)
    return m


def test_history_tracks_lowest_val_loss_and_its_weights() -> None:
    h = History()
    m = _model(1.0)
    flags = []
    for val, w in [(0.9, 1.0), (0.4, 2.0), (0.6, 3.0), (0.4, 4.0)]:
        with torch.no_grad():
            m.weight.fill_(w)
        flags.append(h.log(train_loss=val + 0.1, val_loss=val, val_error=val / 10, model=m))
    assert flags == [True, True, False, False]  # ties keep the earlier epoch
    assert h.best_epoch == 2 and h.best_val_loss == 0.4 and len(h) == 4
    # Later steps must not leak into the stored copy.
    assert torch.all(h.best_state["weight"] == 2.0)
    fresh = h.load_best(_model(0.0))
    assert torch.all(fresh.weight == 2.0)
    assert h.as_dict()["val_error"] == pytest.approx([0.09, 0.04, 0.06, 0.04])


def test_history_errors_are_clear() -> None:
    h = History()
    with pytest.raises(ValueError, match="empty"):
        _ = h.best_val_loss
    h.log(train_loss=1.0, val_loss=1.0)
    with pytest.raises(ValueError, match="model="):
        h.load_best(_model(0.0))


def test_timer_and_progress() -> None:
    with Timer() as t:
        time.sleep(0.05)
    assert 0.04 < t.seconds < 1.0
    assert list(epochs(3, disable=True)) == [1, 2, 3]
    assert list(progress("abc", disable=True)) == ["a", "b", "c"]
