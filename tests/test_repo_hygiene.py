"""What git holds stays clean: notebooks carry no outputs, and a run of a solution shows a person no clutter."""
from __future__ import annotations

import re
import subprocess

import nbformat
import pytest

from course.notebooks import execute_notebook, scratch_copy
from course.pipeline import grading_env, lab_ids


def _tracked_notebooks(root):
    try:
        out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=root, capture_output=True, text=True, check=True)
        paths = [root / p for p in out.stdout.splitlines()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist, a copy)
        paths = [p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    assert paths, "no notebooks found"
    return paths


def test_notebooks_in_git_carry_no_outputs_or_execution_counts(repo_root) -> None:
    dirty = []
    for path in _tracked_notebooks(repo_root):
        nb = nbformat.read(path, 4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
                dirty.append(f"{path.relative_to(repo_root)} cell {i}")
    assert not dirty, ("notebooks committed with outputs or execution counts (clear them: "
                       f"jupyter nbconvert --clear-output --inplace FILE): {dirty[:10]}")


# What a stray last expression looks like: a repr of an object rather than a result a person asked for.
_STRAY = re.compile(r"^(<\S+ (object )?at 0x|<torch\.|(Posix|Windows|Saved)Path\(|\[?<matplotlib)")


@pytest.mark.slow
@pytest.mark.parametrize("lab", lab_ids(__import__("pathlib").Path(__file__).resolve().parents[1]))
def test_a_solution_run_has_no_stray_outputs_and_every_test_says_passed(repo_root, lab) -> None:
    nb = nbformat.read(repo_root / "solutions" / lab / f"{lab}.ipynb", 4)
    with scratch_copy(repo_root / "solutions" / lab, repo_root / "autograder" / "references" / lab) as tmp:
        nb, result = execute_notebook(nb, tmp, env=grading_env(repo_root))
    assert result.ok, result.summary()
    stray, silent, noisy = [], [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/plain", "") if out.get("output_type") == "execute_result" else ""
            if _STRAY.match(text):
                stray.append(f"cell {i}: {text[:60]}")
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            printed = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")
            task = ".".join(meta["grade_id"].split("_")[:2])
            if not re.search(rf"^✓ Task {re.escape(task)} passed .*\(the autograder adds hidden tests\)$", printed, re.M):
                silent.append(meta["grade_id"])
            # nbgrader scores a graded cell 0 for any stderr output (a warning, a progress bar).
            noisy += [f"{meta['grade_id']}: {o.get('text', '')[:120]}" for o in cell.get("outputs", [])
                      if o.get("name") == "stderr"]
    assert not stray, f"last-expression outputs a person did not ask for: {stray}"
    assert not silent, f"graded cells that pass without saying so (end them with course.passed(...)): {silent}"
    assert not noisy, f"graded cells that write to stderr (nbgrader would score them 0): {noisy}"
