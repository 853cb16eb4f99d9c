"""One image as a tensor, for the coordinate-network lab: :func:`load_image`, :func:`default_image_size`.

The default picture is matplotlib's ``grace_hopper.jpg``, which ships with matplotlib, so the lab works
offline. Any other picture can be passed by path. The image is centre-cropped to a square and resized
with an antialiasing filter: a coordinate network is asked to fit every pixel, so aliasing a
downsample would add detail that was not in the picture.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["SAMPLE_IMAGE", "default_image_size", "load_image"]

#: The file name, in matplotlib's sample data, of the default picture.
SAMPLE_IMAGE = "grace_hopper.jpg"

_CPU_SIZE, _GPU_SIZE = 64, 256


def default_image_size(device: torch.device | str | None = None) -> int:
    """Pixels per side: 256 on a CUDA device, 64 elsewhere (a 4×256 MLP trains in seconds on either).

    ``device=None`` asks whether CUDA is available at all.
    """
    if device is None:
        return _GPU_SIZE if torch.cuda.is_available() else _CPU_SIZE
    return _GPU_SIZE if torch.device(device).type == "cuda" else _CPU_SIZE


def _sample_path() -> Path:
    from matplotlib import cbook

    return Path(cbook.get_sample_data(SAMPLE_IMAGE, asfileobj=False))


def load_image(path: str | os.PathLike | None = None, size: int | None = None, *,
               device: torch.device | str | None = None) -> torch.Tensor:
    """A square RGB image of ``size``×``size`` pixels as a float32 tensor (H, W, 3) in [0, 1].

    ``path``: any picture Pillow reads (default: matplotlib's ``grace_hopper.jpg``). The largest centred
    square is cropped and resized with Pillow's antialiased bilinear filter. ``size`` defaults to
    :func:`default_image_size` of ``device``; the tensor is put on ``device`` (default: the CPU).
    """
    from PIL import Image, ImageOps

    if size is None:
        size = default_image_size(device)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size!r}")
    file = _sample_path() if path is None else Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"no image at {file}")
    try:
        with Image.open(file) as opened:
            picture = ImageOps.exif_transpose(opened).convert("RGB")   # phones store rotation in EXIF
    except OSError as exc:
        raise ValueError(f"{file} is not an image Pillow can read ({exc})") from exc
    width, height = picture.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = picture.crop((left, top, left + side, top + side))
    # Pillow's bilinear filter widens with the reduction factor when downsampling: an antialiased
    # (triangle) filter, smoother than Lanczos, whose ringing adds detail the network would have to fit.
    resized = square.resize((int(size), int(size)), Image.Resampling.BILINEAR)
    pixels = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy())   # (H, W, 3) uint8
    return pixels.to(torch.float32).div(255).to(device or "cpu")
