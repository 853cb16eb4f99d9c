"""The engine's own work per submission: what it starts, and when it need not."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ci_support import skip_or_fail

import course.grader.session as session_module
from course.grader.engine import grade_submission
from course.grader.sandbox import SandboxRefused

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab3_mlp_mnist"
CHECKPOINT = "lab3_best.pt"
pytestmark = pytest.mark.slow


def _runners_in_fresh_folders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The working folders of every runner started from now on that is a fresh kernel (``course-fresh-*``)."""
    started: list[str] = []
    real = session_module.Kernel.__init__

    def counting(self, launcher, cwd, env, **kwargs):
        if Path(cwd).name.startswith("course-fresh-"):
            started.append(str(cwd))
        real(self, launcher, cwd, env, **kwargs)

    monkeypatch.setattr(session_module.Kernel, "__init__", counting)
    return started


def _grade(folder: Path):
    try:
        return grade_submission(ROOT, LAB, folder, student=folder.name)
    except SandboxRefused as exc:
        skip_or_fail(f"grading is refused on this machine: {exc}")


def test_a_fresh_kernel_is_started_only_when_weights_were_handed_in(tmp_path, monkeypatch) -> None:
    """Without a checkpoint no judge re-measures anything, so no runner is warmed for it (it would take a core
    from a grader working beside this one); with one, the tiers re-measure it in a fresh kernel."""
    started = _runners_in_fresh_folders(monkeypatch)
    bare = tmp_path / "bare"
    shutil.copytree(ROOT / "autograder" / "samples" / "submitted" / "untouched" / LAB, bare)
    assert not (bare / CHECKPOINT).exists()
    result = _grade(bare)
    assert started == [], f"fresh kernels started for a submission without weights: {started}"
    tiers = [t.message for t in result.tests if t.grade_id.startswith("3_6_below")]
    assert tiers and all(f"no {CHECKPOINT} was handed in" in m for m in tiers), tiers

    with_weights = tmp_path / "with_weights"
    shutil.copytree(bare, with_weights)
    shutil.copy2(ROOT / "autograder" / "references" / LAB / CHECKPOINT, with_weights / CHECKPOINT)
    result = _grade(with_weights)
    assert started, "the handed-in checkpoint was not re-measured in a fresh kernel"
    # The untouched builder raises there: the tiers say so, where before they said no file was handed in.
    tiers = [t.message for t in result.tests if t.grade_id.startswith("3_6_below")]
    assert tiers and all("could not be loaded into build_best_model()" in m for m in tiers), tiers
