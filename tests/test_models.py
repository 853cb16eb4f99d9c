"""Tests for course.models: scaffolds that take the student's piece."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course.models import Ensemble, PixelClassifier, count_parameters


def test_ensemble_averages_member_logits() -> None:
    torch.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    x = torch.randn(5, 4)
    torch.testing.assert_close(Ensemble([a, b])(x), (a(x) + b(x)) / 2)
    built = Ensemble(lambda: nn.Linear(4, 3), k=3)
    assert len(built.members) == 3 and built(x).shape == (5, 3)
    # Its state dict round-trips into a fresh ensemble of the same shape.
    Ensemble(lambda: nn.Linear(4, 3), k=3).load_state_dict(built.state_dict())


def test_ensemble_rejects_empty_and_bad_k() -> None:
    with pytest.raises(ValueError):
        Ensemble([])
    with pytest.raises(ValueError, match="k"):
        Ensemble(lambda: nn.Linear(1, 1))


def test_count_parameters() -> None:
    m = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    assert count_parameters(m) == 50_890
    m[0].weight.requires_grad_(False)
    assert count_parameters(m) == 50_890 - 784 * 64
    assert count_parameters(m, trainable_only=False) == 50_890


def test_pixel_classifier_centres_with_its_mean_and_round_trips(tmp_path) -> None:
    import course

    torch.manual_seed(0)
    linear = nn.Linear(12, 4)
    mean = torch.rand(12)
    model = PixelClassifier(linear, mean, in_features=12)
    x = torch.rand(5, 3, 2, 2)
    torch.testing.assert_close(model(x), linear(x.flatten(1) - mean))
    mean.zero_()                                  # the model keeps a copy of the mean
    assert model.mean.abs().sum() > 0
    # Saved with its mean; an untrained twin (mean = zeros) gets it back from the checkpoint.
    path = course.save_model(model, tmp_path / "m.pt")
    loaded = course.load_model(lambda: PixelClassifier(nn.Linear(12, 4), in_features=12), path)
    torch.testing.assert_close(loaded(x), model(x), atol=2e-3, rtol=0)   # checkpoints store float16
    torch.testing.assert_close(loaded.mean, model.mean, atol=1e-3, rtol=0)
    assert PixelClassifier(nn.Linear(3072, 10)).mean.shape == (3072,)


def test_flip_average_averages_an_image_and_its_mirror_in_eval_mode_only() -> None:
    from course.models import FlipAverage

    torch.manual_seed(0)
    inner = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 4, 5))
    model = FlipAverage(inner)
    x = torch.randn(6, 2, 3, 4)
    assert torch.equal(model.train()(x), inner(x))
    expected = (inner(x) + inner(x.flip(-1))) / 2
    assert torch.allclose(model.eval()(x), expected)
    assert torch.allclose(model(x.flip(-1)), model(x), atol=1e-6)     # a mirrored image gets the same answer
    assert list(model.state_dict()) == ["model.1.weight", "model.1.bias"]
