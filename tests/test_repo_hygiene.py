"""What git holds stays clean: notebooks carry no outputs, and a run of a solution shows a person no clutter."""
from __future__ import annotations

import subprocess

import nbformat



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


def test_clutter_finds_stray_reprs_silent_and_noisy_graded_cells() -> None:
    """`course check` runs every solution and reports this clutter as problems (the README's demo runs it)."""
    from course.check import clutter

    def cell(source, outputs, grade_id=None):
        c = nbformat.v4.new_code_cell(source)
        c.outputs = [nbformat.from_dict(o) for o in outputs]
        if grade_id:
            c.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": 1}
        return c

    ok = {"output_type": "stream", "name": "stdout",
          "text": "✓ Task 1.2 passed the visible tests (the autograder adds hidden tests)\n"}
    nb = nbformat.v4.new_notebook(cells=[
        cell("x", [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                    "data": {"text/plain": "<matplotlib.figure.Figure at 0x7f>"}}]),
        cell("t", [ok], "1_2"),
        cell("t", [], "1_3"),
        cell("t", [ok | {"text": ok["text"].replace("1.2", "1.4")},
                   {"output_type": "stream", "name": "stderr", "text": "UserWarning: careful"}], "1_4"),
    ])
    found = clutter(nb)
    assert len(found) == 3, found
    assert "stray repr" in found[0] and "1_3 passes without saying so" in found[1] and "1_4 writes to stderr" in found[2]
