"""What is particular to Lab 4's judges, beyond the contract every lab's corpus keeps (``test_contract.py``).

The ``lab`` fixture (``conftest.py``) is this lab's kernel, holding the solution's notebook state."""
from __future__ import annotations

import re

from cases_lab4 import CASES, FINALS, LAB, NB, SELECTION
from harness import ROOT


def test_a_bug_in_4_2_costs_only_its_own_points(lab) -> None:
    """Selection and the sweep train with make_mlp; with a broken MLP their judges skip what depends on it."""
    broken = next(c for c in CASES if c.id == "4.2-bug-no-sigmoid")
    verdicts = lab.judge_cell("4_2_code", broken.source, ("4_2", "4_2_train", "4_2_psnr", "4_5_select", "4_6"))
    assert verdicts["4_2"].score == 0
    assert all(verdicts[g].score == verdicts[g].max_score for g in ("4_2_train", "4_2_psnr", "4_5_select", "4_6")), verdicts

def test_a_bug_in_4_4_costs_only_its_own_points(lab) -> None:
    broken = next(c for c in CASES if c.id == "4.4-bug-resampled-every-call")
    verdicts = lab.judge_cell("4_4_code", broken.source, ("4_4", "4_6"))
    assert verdicts["4_4"].score == 0
    assert verdicts["4_6"].score == verdicts["4_6"].max_score, verdicts

def test_finalists_chosen_by_hand_are_caught(lab) -> None:
    """Editing the selection cell so that the reported best is not the validation winner loses 4.5 (generalise)."""
    edited = NB.source(SELECTION) + '\nbest = min(val_psnr, key=val_psnr.get)'
    verdicts = lab.judge_cell(SELECTION, edited, ("4_5_generalise",))
    assert verdicts["4_5_generalise"].score == 0
    assert re.search(r"4\.5: .*highest validation PSNR", verdicts["4_5_generalise"].message), verdicts

def test_finalists_trained_on_the_held_out_grid_are_caught(lab) -> None:
    edited = NB.patched(FINALS, ("_model, _curves = fit(_features[train_idx], pixels[train_idx],",
                                 "_model, _curves = fit(_features[held_out_idx], pixels[held_out_idx],"))
    verdicts = lab.judge_cell(FINALS, edited, ("4_5_generalise",))
    assert verdicts["4_5_generalise"].score == 0
    assert re.search(r"4\.5: .*(should never have seen|records a held-out PSNR)", verdicts["4_5_generalise"].message), verdicts
    verdicts = lab.judge_cell(FINALS, NB.source(FINALS), ("4_5_generalise",))
    assert verdicts["4_5_generalise"].score == 1, verdicts

def test_the_gpu_size_runs_on_a_cpu() -> None:
    """No GPU is lent to the course: the 256-pixel path of the solution's functions runs here, a step at a time."""
    import contextlib
    import io

    import torch

    from course.grader.judge import load_reference
    from course.images import load_image

    ref = load_reference(ROOT, LAB)
    image = load_image(size=256)
    coords, pixels = ref.pixel_coordinates(256, 256), image.reshape(-1, 3)
    train_idx, held_out_idx = ref.grid_split(256, 256)
    assert coords.shape == (65536, 2) and len(train_idx) == len(held_out_idx) == 128 * 128
    candidates = {"PE L=8": ref.positional_encoding(coords, 8), "Gaussian σ=10": ref.GaussianFourierFeatures(10.0)(coords)}
    with contextlib.redirect_stderr(io.StringIO()):
        best, scores = ref.select_encoding(candidates, pixels, train_idx, steps=1, lr=1e-3)
        sweep = ref.sweep_sigma([10.0], coords, pixels, train_idx, held_out_idx, steps=1, lr=1e-3)
    assert best in candidates and len(scores) == 2
    with torch.no_grad():
        drawn = sweep[10.0][2](coords).reshape(256, 256, 3)
    assert drawn.shape == image.shape and 0 <= drawn.min() and drawn.max() <= 1
