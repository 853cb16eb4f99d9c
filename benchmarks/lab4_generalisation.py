"""Lab 4's held-out comparison (Task 4.5): the encodings chosen on validation against raw coordinates.

Runs the solution notebook in full mode (64 px on a CPU) exactly as a student would, and prints what its cells
printed: the candidates' validation PSNRs, then the finalists' table, where raw coordinates get their own best
learning rate and number of steps (chosen on the validation pixels, like every encoding), and the two gains.
It adds two references the notebook does not print, measured on the same held-out grid: bicubic interpolation
of the training grid, and an oracle, the best linear interpolation filter (8 × 8 training pixels around each
held-out pixel, one filter for the whole picture) fitted by least squares on the held-out pixels themselves.
From the repository root, alone on the machine (about six minutes on two CPU cores):

    python benchmarks/lab4_generalisation.py
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch
import torch.nn.functional as F

from course.images import load_image
from course.notebooks import execute_notebook, load_notebook, scratch_copy

LAB = "lab4_positional_encoding"
PRINTED = ("chosen on validation:", "gains")   # the selection cell's and the finalists' cell's last lines


def _grids(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The picture's training grid (even rows, even columns) and the held-out pixels each in the middle of four of
    its pixels (odd rows and columns, the last of each left out: it has no training pixel beyond it), both (3, ·, ·)."""
    image = load_image(size=size).permute(2, 0, 1).double()          # (3, H, W) in [0, 1]
    n = image.shape[-1] // 2
    return image[:, 0::2, 0::2], image[:, 1::2, 1::2][:, :n - 1, :n - 1]


def _psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    return 10 * math.log10(1 / F.mse_loss(pred, target).item())


def bicubic_held_out(size: int) -> float:
    """PSNR (dB) on the held-out grid of bicubic interpolation from the training grid."""
    train, held = _grids(size)
    n = train.shape[-1]
    # Training pixel k sits at 2k and held-out pixel k at 2k + 1: the odd points of a (2n − 1)-point grid.
    up = F.interpolate(train[None], size=(2 * n - 1, 2 * n - 1), mode="bicubic", align_corners=True).clamp(0, 1)
    return _psnr(up[0, :, 1::2, 1::2], held)


def oracle_filter_held_out(size: int, support: int = 8) -> float:
    """PSNR (dB) of the best linear filter from a support × support window of training pixels to the held-out
    pixel in its middle, fitted by least squares on the held-out pixels it is scored on (an upper bound for any
    interpolation filter of that support, however designed)."""
    train, held = _grids(size)
    n, r = train.shape[-1], support // 2
    # Held-out pixel (i, j) sits between training rows i, i + 1 and columns j, j + 1: its window starts at i − r + 1.
    padded = F.pad(train[None], (r - 1, r, r - 1, r), mode="replicate")[0]
    windows = padded.unfold(1, support, 1).unfold(2, support, 1)[:, :n - 1, :n - 1]   # (3, n−1, n−1, s, s)
    inputs = windows.reshape(-1, support * support)                   # one row per held-out value, channels stacked
    inputs = torch.cat([inputs, torch.ones(len(inputs), 1, dtype=inputs.dtype)], dim=1)   # and a constant
    targets = held.reshape(-1, 1)
    return _psnr((inputs @ torch.linalg.lstsq(inputs, targets).solution).clamp(0, 1), targets)


def main() -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    nb = load_notebook(ROOT / "solutions" / LAB / f"{LAB}.ipynb")
    env = {"COURSE_FAST": "0", "MPLBACKEND": "Agg", "COURSE_DEVICE": "cpu"}
    with scratch_copy(ROOT / "solutions" / LAB) as tmp:
        t0 = time.perf_counter()
        nb, result = execute_notebook(nb, tmp, env=env, timeout=3600)
        seconds = time.perf_counter() - t0
    if not result.ok:
        print(f"the solution notebook failed: {result.summary()}")
        return 1
    for cell in nb.cells:
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")
        if any(marker in text for marker in PRINTED):
            print(text.rstrip() + "\n")
    print(f"bicubic interpolation of the training grid, on the held-out grid: {bicubic_held_out(64):.1f} dB")
    print(f"the best linear 8 × 8 interpolation filter, fitted on the held-out pixels themselves (an oracle): "
          f"{oracle_filter_held_out(64):.1f} dB")
    print(f"the notebook ran in full mode in {seconds:.0f} s "
          f"(goal: the chosen encoding ≥ 3 dB above raw coordinates at their own best, held out, at 64 px)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.exit(main())
