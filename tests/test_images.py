"""Tests for course.images: the default size per device, centre crop, antialiased resize, own pictures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course.images import SAMPLE_IMAGE, default_image_size, load_image


def _save(tmp_path: Path, pixels: np.ndarray, name: str = "picture.png", **kwargs) -> Path:
    path = tmp_path / name
    Image.fromarray(pixels).save(path, **kwargs)
    return path


@pytest.mark.parametrize(("cuda", "expected"), [(False, 64), (True, 256)])
def test_default_size_follows_cuda(monkeypatch, cuda: bool, expected: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert default_image_size() == expected


@pytest.mark.parametrize(("device", "expected"), [("cpu", 64), ("cuda", 256), ("cuda:1", 256), ("mps", 64),
                                                  (torch.device("cpu"), 64)])
def test_default_size_of_a_device(device, expected: int) -> None:
    assert default_image_size(device) == expected


def test_sample_picture_on_a_cpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    image = load_image()
    assert image.shape == (64, 64, 3) and image.dtype == torch.float32 and image.device.type == "cpu"
    assert 0 <= image.min() and image.max() <= 1
    assert image.std() > 0.1, "the sample picture should not be flat"
    assert SAMPLE_IMAGE == "grace_hopper.jpg"


def test_gpu_size_forced_on_a_cpu(monkeypatch) -> None:
    """No GPU to test on: the 256-pixel path runs on the CPU, by forcing the size (or pretending CUDA is there)."""
    forced = load_image(size=256)
    assert forced.shape == (256, 256, 3) and forced.device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert load_image().shape == (256, 256, 3)   # the size follows CUDA; the tensor stays on the CPU unless asked
    small = load_image(size=64)
    # The same picture at both sizes: averaging 4×4 blocks of the large one gives nearly the small one.
    pooled = forced.reshape(64, 4, 64, 4, 3).mean(dim=(1, 3))
    assert (pooled - small).abs().mean() < 0.03


def test_centre_crop_of_a_wide_and_a_tall_picture(tmp_path: Path) -> None:
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, :10, 0] = 255       # red | green | blue
    wide[:, 10:20, 1] = 255
    wide[:, 20:, 2] = 255
    image = load_image(_save(tmp_path, wide), size=10)
    assert torch.allclose(image, torch.tensor([0.0, 1.0, 0.0]).expand(10, 10, 3), atol=1e-6)
    tall = wide.transpose(1, 0, 2).copy()     # red / green / blue from top to bottom
    image = load_image(_save(tmp_path, tall, "tall.png"), size=5)
    assert torch.allclose(image, torch.tensor([0.0, 1.0, 0.0]).expand(5, 5, 3), atol=1e-6)


def test_resize_is_antialiased(tmp_path: Path) -> None:
    """A one-pixel checkerboard shrunk 8× is grey; sampling without a filter would keep black or white."""
    board = ((np.indices((64, 64)).sum(axis=0) % 2) * 255).astype(np.uint8)
    image = load_image(_save(tmp_path, np.stack([board] * 3, axis=-1)), size=8)
    assert (image - 0.5).abs().max() < 0.1


def test_grey_and_transparent_pictures_become_rgb(tmp_path: Path) -> None:
    grey = load_image(_save(tmp_path, np.full((12, 12), 128, np.uint8), "grey.png"), size=6)
    assert grey.shape == (6, 6, 3) and torch.allclose(grey, torch.full((6, 6, 3), 128 / 255), atol=1e-6)
    rgba = np.zeros((12, 12, 4), np.uint8)
    rgba[..., 2] = rgba[..., 3] = 255
    blue = load_image(_save(tmp_path, rgba, "rgba.png"), size=6)
    assert blue.shape == (6, 6, 3) and torch.allclose(blue, torch.tensor([0.0, 0.0, 1.0]).expand(6, 6, 3))


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    """Phones store a rotation in EXIF: a picture taken in portrait must be cropped as it is seen."""
    stored = np.zeros((10, 20, 3), np.uint8)          # as stored: red left half, blue right half
    stored[:, :10, 0] = 255
    stored[:, 10:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6                                  # "rotate 90° clockwise to display"
    image = load_image(_save(tmp_path, stored, "phone.jpg", exif=exif, quality=100), size=10)
    top, bottom = image[0].mean(dim=0), image[-1].mean(dim=0)
    assert top[0] > 0.8 and bottom[2] > 0.8, "the halves should be top and bottom once rotated"


def test_device_argument() -> None:
    assert load_image(size=8, device="cpu").device.type == "cpu"


@pytest.mark.parametrize("size", [0, -3, True, 2.5, "64"])
def test_bad_sizes(size) -> None:
    with pytest.raises(ValueError, match="size must be a positive number of pixels"):
        load_image(size=size)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no image at"):
        load_image(tmp_path / "nope.jpg", size=8)
    junk = tmp_path / "junk.jpg"
    junk.write_text("not a picture")
    with pytest.raises(ValueError, match="not an image Pillow can read"):
        load_image(junk, size=8)
