"""Lab 5's CIFAR-10 reference recipe (Task 5.8), trained in full mode exactly as the solution notebook does it.

Prints the minutes of training and the test accuracy of the saved checkpoint, re-measured as the autograder
measures it (eval mode, test-time flips, ``course.autocast``). The recipe is not copied here: the script runs
the solution notebook's own cells (setup, ``ResBlock``, ``build_cifar_model``, the training cell and the
saved-accuracy cell), so the figure is the notebook's. Run it alone on the machine, from the repository root:

    COURSE_DATA=../shared/data python benchmarks/lab5_cifar.py [--save PATH] [--whiten-stem]

About 20 minutes on two CPU cores. ``--whiten-stem`` measures one of the issue's per-FLOP ideas on the same
recipe: the first convolution's filters set to whiten 3 × 3 patches of the training images and frozen (Page's
"How to train your ResNet" and airbench), everything else as the notebook does it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "lab5_cnn_resnet" / "lab5_cnn_resnet.ipynb"

# Each cell the recipe needs, found by a line it alone holds (the notebook's cells may move).
CELLS = {
    "setup": "DEVICE = course.get_device()",
    "residual block": "class ResBlock(nn.Module):",
    "the network": "def build_cifar_model(",
    "training": "def train_cifar(",
    "measurement": "def saved_accuracy(",
}


def recipe_cells(notebook: Path) -> dict[str, str]:
    cells = ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    found = {}
    for name, marker in CELLS.items():
        hits = [source for source in cells if marker in source]
        if len(hits) != 1:
            raise SystemExit(f"{notebook}: {len(hits)} code cells hold {marker!r} (the {name}); expected exactly one")
        found[name] = hits[0]
    return found


def lab5_network():
    """The solution notebook's CIFAR-10 network, untrained: its setup, residual-block and network cells run in a
    namespace of their own, as in its kernel (``cores.py`` and ``lab5_compile.py`` time it)."""
    cells = recipe_cells(SOLUTION)
    namespace: dict = {"__name__": "__lab5__"}
    for name in ("setup", "residual block", "the network"):
        exec(cells[name], namespace)  # noqa: S102 - the solution notebook's own cells
    return namespace["build_cifar_model"]()


def whitening_filters(images, out_channels: int, eps: float = 1e-2):
    """(out_channels, 3, 3, 3) filters: the top out_channels / 2 eigenvectors of the 3 × 3 patches' covariance,
    each scaled by 1 / √(eigenvalue + eps), and their negatives (a ReLU follows: both signs must get through)."""
    import torch
    import torch.nn.functional as F

    half = out_channels // 2
    if out_channels % 2 or not 0 < half <= 27:
        raise SystemExit(f"--whiten-stem needs a first convolution of 3 × 3 × 3 → an even number ≤ 54 of channels; "
                         f"this one has {out_channels}")
    patches = F.unfold(images, 3).transpose(1, 2).reshape(-1, 27).double()   # every 3 × 3 × 3 patch, flattened
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(patches.T))       # ascending
    top = eigenvectors[:, -half:].T / (eigenvalues[-half:] + eps).sqrt()[:, None]
    return torch.cat([top, -top]).float().reshape(out_channels, 3, 3, 3)


def with_whitened_stem(build, images):
    """``build`` whose model's first convolution holds frozen whitening filters of ``images``' patches."""
    import torch

    def build_whitened(*args, **kwargs):
        model = build(*args, **kwargs)
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        if first.weight.shape[1:] != (3, 3, 3):
            raise SystemExit(f"--whiten-stem needs a 3 × 3 first convolution on 3 channels; got {tuple(first.weight.shape)}")
        with torch.no_grad():
            first.weight.copy_(whitening_filters(images, first.out_channels))
        first.weight.requires_grad_(False)       # SGD skips a parameter without a gradient, weight decay included
        return model

    return build_whitened


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save", help="copy the trained lab5_cifar.pt here")
    parser.add_argument("--whiten-stem", action="store_true",
                        help="train with the first convolution frozen at whitening filters of 3 × 3 training patches")
    args = parser.parse_args()
    if "COURSE_DATA" not in os.environ:
        raise SystemExit("set COURSE_DATA to the folder holding cifar-10 (e.g. COURSE_DATA=../shared/data)")
    os.environ.pop("COURSE_FAST", None)                # full mode, as a student runs it
    os.environ.setdefault("MPLBACKEND", "Agg")
    cells = recipe_cells(SOLUTION)
    save = Path(args.save).expanduser().resolve() if args.save else None   # before the chdir below

    import torch

    namespace: dict = {"__name__": "__lab5__"}   # the solution notebook's own cells run in it, as in its kernel
    with tempfile.TemporaryDirectory(prefix="lab5-cifar-") as work:
        os.chdir(work)                                  # save_model writes lab5_cifar.pt beside the notebook
        exec(cells["setup"], namespace)  # noqa: S102 - the solution notebook's own cells
        print(f"device: {namespace['DEVICE']}, {torch.get_num_threads()} torch threads, "
              f"autocast {namespace['course'].autocast_dtype(namespace['DEVICE']) or 'off (float32)'}", flush=True)
        exec(cells["residual block"], namespace)  # noqa: S102 - the solution notebook's own cells
        exec("cifar = cifar10_splits(seed=0)", namespace)  # noqa: S102 - the solution notebook's own cells
        exec(cells["the network"], namespace)  # noqa: S102 - the solution notebook's own cells
        build = namespace["build_cifar_model"]
        started = time.perf_counter()
        if args.whiten_stem:
            # From the first 5,000 training images (the validation split is not touched); train_cifar looks the
            # builder up when it runs, and the measurement below rebuilds through the notebook's own.
            namespace["build_cifar_model"] = with_whitened_stem(build, namespace["cifar"].train_x[:5000])
        exec(cells["training"], namespace)  # noqa: S102 - trains, and saves lab5_cifar.pt
        minutes = (time.perf_counter() - started) / 60
        namespace["build_cifar_model"] = build
        exec(cells["measurement"], namespace)  # noqa: S102 - prints the saved checkpoint's test accuracy
        accuracy = namespace["saved_accuracy"]("lab5_cifar.pt")
        if save:
            shutil.copyfile("lab5_cifar.pt", save)
    epochs = namespace["CIFAR_EPOCHS"]
    variant = " with a frozen whitening first layer" if args.whiten_stem else ""
    print(f"\nLab 5 reference recipe{variant}: {epochs} epochs in {minutes:.1f} min (training and per-epoch validation), "
          f"test accuracy {accuracy:.2%} (goal: at least 88% in at most 20 min on two CPU cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
