"""The README's commands, run as a newcomer runs them: verbatim, from the root of a fresh clone, relative paths.

Each ```bash block runs in a clone of this checkout (with its uncommitted changes) that has ``../shared``
beside it. A block passes when it exits 0 and leaves ``git status`` clean. The clone's ``.venv`` is pre-seeded
to see the packages of the venv running these tests, so ``pip install -e ...`` resolves without downloading
torch again; everything else (venv creation, activation, the editable install, the command) runs as written.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)

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


def readme_blocks() -> list[str]:
    return [b.strip() for b in BLOCK.findall((ROOT / "README.md").read_text())]


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    shared = ROOT.parent / "shared"
    if not (shared / "data").is_dir():
        pytest.skip("needs ../shared/data beside the checkout, as the README assumes")
    base = tmp_path_factory.mktemp("newcomer")
    dst = base / "main"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dst)], check=True)
    # This checkout's uncommitted work too, committed in the clone so that its `git status` starts clean.
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=ROOT, capture_output=True, check=True).stdout
    if diff:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=dst, input=diff, check=True)
    for name in _git("ls-files", "--others", "--exclude-standard", cwd=ROOT).splitlines():
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dst / name)
    _git("add", "-A", cwd=dst)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "work in progress", cwd=dst)
    (base / "shared").symlink_to(shared)
    # A venv that sees this venv's packages (a .pth line), so the block's pip install needs no download of torch.
    subprocess.run([sys.executable, "-m", "venv", str(dst / ".venv")], check=True)
    purelib = Path(sysconfig.get_paths()["purelib"])
    target = next((dst / ".venv" / "lib").glob("python*/site-packages"))
    (target / "_course_ci_packages.pth").write_text(f"{purelib}\n")
    # ... and their commands (nbgrader runs `alembic`), which a .pth line does not bring.
    for script in Path(sys.prefix, "bin").iterdir():
        mine = dst / ".venv" / "bin" / script.name
        if not mine.exists() and not script.name.startswith(("activate", "python", "pip")):
            mine.symlink_to(script)
    return dst


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
def test_readme_block_runs_verbatim_and_leaves_git_clean(clone, block) -> None:
    why = next((reason for key, reason in NOT_RUN.items() if key in block), None)
    if why:
        pytest.skip(why)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "VIRTUAL_ENV", "PYTEST_"))}
    # PATH as a newcomer has it: without the venv these tests run in.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(sys.prefix))
    if "-m venv .venv" not in block:
        # A block that does not set up is run, as a newcomer would, in the shell the set-up command activated.
        env["PATH"] = os.pathsep.join([str(clone / ".venv" / "bin"), env["PATH"]])
    env["MPLBACKEND"] = "Agg"
    if "python -m pytest" in block:
        # The suite inside the suite: a few quick modules that use the data (the whole suite runs in CI anyway),
        # which also keeps this test from running itself.
        env["PYTEST_ADDOPTS"] = ("-m 'not slow' -q -p no:cacheprovider "
                                 "tests/test_data.py tests/test_release.py tests/test_checks.py")
    proc = subprocess.run(["bash", "-c", block], cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 or ("course validate" in block and proc.returncode == 1), (
        f"README block failed (exit {proc.returncode}):\n{block}\n---\n{out[-4000:]}")
    pattern = next(v for k, v in EXPECT.items() if k in block)
    assert re.search(pattern, out), f"README block ran but did not print {pattern!r}:\n{out[-3000:]}"
    status = _git("status", "--porcelain", cwd=clone)
    assert status == "", f"README block changed or left files git sees:\n{status}"
