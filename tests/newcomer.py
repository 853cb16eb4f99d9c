"""A newcomer's fresh clone of this checkout, and the README's ```bash blocks run in it verbatim.

The clone holds this checkout's uncommitted changes (committed in the clone, so its ``git status`` starts clean)
and has ``../shared`` beside it. Its ``.venv`` is pre-seeded to see the packages of the venv running the tests,
so ``pip install -e ...`` resolves without downloading torch again; everything else (venv creation, activation,
the editable install, the command) runs as written.

The README's demo block is run once per test session (:func:`run_demo`): its test checks it, and the tests of
what it leaves behind (the samples' grades, the gradebook the formgrader shows) read the same run instead of
grading the samples again.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)

__all__ = ["ROOT", "readme_blocks", "make_clone", "run_block", "git", "Demo", "run_demo"]


def readme_blocks() -> list[str]:
    return [b.strip() for b in BLOCK.findall((ROOT / "README.md").read_text())]


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def make_clone(base: Path) -> Path:
    """``base/main``, a clone as a newcomer makes it, with ``base/shared`` beside it."""
    dst = base / "main"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dst)], check=True)
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=ROOT, capture_output=True, check=True).stdout
    if diff:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=dst, input=diff, check=True)
    for name in git("ls-files", "--others", "--exclude-standard", cwd=ROOT).splitlines():
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dst / name)
    git("add", "-A", cwd=dst)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "work in progress", cwd=dst)
    (base / "shared").symlink_to(ROOT.parent / "shared")
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


def run_block(clone: Path, block: str, *, addopts: str | None = None) -> subprocess.CompletedProcess:
    """``bash -c BLOCK`` in the clone, with the environment a newcomer has (not the tests' venv or settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "VIRTUAL_ENV", "PYTEST_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix))
    if "-m venv .venv" not in block:
        # A block that does not set up is run, as a newcomer would, in the shell the set-up command activated.
        env["PATH"] = os.pathsep.join([str(clone / ".venv" / "bin"), env["PATH"]])
    env["MPLBACKEND"] = "Agg"
    if addopts is not None:
        env["PYTEST_ADDOPTS"] = addopts
    return subprocess.run(["bash", "-c", block], cwd=clone, env=env, capture_output=True, text=True, timeout=1800)


@dataclass(frozen=True)
class Demo:
    """The README's demo block, run once: the clone, what it printed, its exit status, and ``git status`` after."""

    clone: Path
    block: str
    returncode: int
    output: str
    status: str


def run_demo(base: Path) -> Demo:
    block = next(b for b in readme_blocks() if "course demo" in b)
    clone = make_clone(base)
    proc = run_block(clone, block)
    return Demo(clone, block, proc.returncode, proc.stdout + proc.stderr, git("status", "--porcelain", cwd=clone))
