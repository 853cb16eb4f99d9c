"""Lab 5's CIFAR-10 reference recipe (Task 5.8), trained in full mode exactly as the solution notebook does it.

Prints the minutes of training and the test accuracy of the saved checkpoint, re-measured as the autograder
measures it (eval mode, test-time flips, ``course.autocast``). The recipe is not copied here: the script runs
the solution notebook's own cells (setup, ``ResBlock``, ``build_cifar_model``, the training cell and the
saved-accuracy cell), so the figure is the notebook's. Run it alone on the machine, from the repository root:

    COURSE_DATA=../shared/data python benchmarks/lab5_cifar.py [--save PATH]

About 20 minutes on two CPU cores.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save", help="copy the trained lab5_cifar.pt here")
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
        started = time.perf_counter()
        exec(cells["training"], namespace)  # noqa: S102 - trains, and saves lab5_cifar.pt
        minutes = (time.perf_counter() - started) / 60
        exec(cells["measurement"], namespace)  # noqa: S102 - prints the saved checkpoint's test accuracy
        accuracy = namespace["saved_accuracy"]("lab5_cifar.pt")
        if save:
            shutil.copyfile("lab5_cifar.pt", save)
    epochs = namespace["CIFAR_EPOCHS"]
    print(f"\nLab 5 reference recipe: {epochs} epochs in {minutes:.1f} min (training and per-epoch validation), "
          f"test accuracy {accuracy:.2%} (goal: at least 88% in at most 20 min on two CPU cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
