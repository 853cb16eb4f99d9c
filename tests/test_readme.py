"""The README's commands, run as a newcomer runs them: verbatim, from the root of a fresh clone, relative paths.

Each ```bash block runs in a newcomer's clone of this checkout (``newcomer.py``). A block passes when it exits 0,
prints what it should, and leaves ``git status`` clean.
"""
from __future__ import annotations

import re

import pytest
from newcomer import git, readme_blocks, run_block

# Blocks that cannot run here, and why; every other block runs.
NOT_RUN = {
    "pip install torch torchvision --index-url": "the PyTorch CPU index is outside the registries this machine reaches",
}
# What each runnable block must print, so that a block that silently does nothing fails.
EXPECT = {
    # The check passes for every lab, then the samples are graded.
    "course demo": (r"(?s)check: \d+ ok, 0 problem\(s\).*correct\s+lab1_linear\s.*19/19.*correct\s+lab2_backprop\s.*17/17"
                    r".*correct\s+lab3_mlp_mnist\s.*14/14.*correct\s+lab4_positional_encoding\s.*20/20"
                    r".*correct\s+lab5_cnn_resnet\s.*28/28"),
    "python -m pytest": r"\d+ passed",
    "course validate": r"lab3_best\.pt",
}


def _id(block: str) -> str:
    return re.sub(r"\W+", "-", block.split("&&")[-1].strip())[:40]


def test_every_block_is_run_or_says_why_not() -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 2, "the README should hold its two commands in ```bash blocks"
    for block in blocks:
        skipped = [k for k in NOT_RUN if k in block]
        expected = [k for k in EXPECT if k in block]
        assert skipped or expected, f"README block not covered by tests/test_readme.py: {block!r}"


@pytest.mark.slow
@pytest.mark.parametrize("block", readme_blocks(), ids=_id)
def test_readme_block_runs_verbatim_and_leaves_git_clean(readme_demo, block) -> None:
    why = next((reason for key, reason in NOT_RUN.items() if key in block), None)
    if why:
        pytest.skip(why)
    if block == readme_demo.block:          # run once for the session (its leftovers serve other tests)
        returncode, out, status = readme_demo.returncode, readme_demo.output, readme_demo.status
    else:
        # The suite inside the suite: a few quick modules that use the data (the whole suite runs in CI anyway),
        # which also keeps this test from running itself.
        addopts = ("-m 'not slow and not browser' -q -p no:cacheprovider "
                   "tests/test_data.py tests/test_release.py tests/test_checks.py") if "python -m pytest" in block else None
        proc = run_block(readme_demo.clone, block, addopts=addopts)
        returncode, out = proc.returncode, proc.stdout + proc.stderr
        status = git("status", "--porcelain", cwd=readme_demo.clone)
    assert returncode == 0 or ("course validate" in block and returncode == 1), (
        f"README block failed (exit {returncode}):\n{block}\n---\n{out[-4000:]}")
    pattern = next(v for k, v in EXPECT.items() if k in block)
    assert re.search(pattern, out), f"README block ran but did not print {pattern!r}:\n{out[-3000:]}"
    assert status == "", f"README block changed or left files git sees:\n{status}"
