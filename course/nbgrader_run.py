"""Running nbgrader, for building (``course build``/``check``) and grading (the gradebook learns a lab) alike."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .checkout import PipelineError, tools_path
from .startup import NBGRADER_MAIN

__all__ = ["run_nbgrader", "generate_assignment"]


def run_nbgrader(root: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float | None = None) -> subprocess.CompletedProcess:
    """``cd autograder && nbgrader ARGS`` with this interpreter; raise with nbgrader's own log on failure."""
    path = tools_path()
    # A session of its own, so a timeout kills the kernels nbgrader started too, not just nbgrader.
    proc = subprocess.Popen([sys.executable, "-c", NBGRADER_MAIN, *args], cwd=root / "autograder",
                            env={**os.environ, "PATH": path, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode != 0:
        log = "\n".join(out.strip().splitlines()[-25:])
        raise PipelineError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode}):\n{log}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def generate_assignment(root: Path, lab: str, release_dir: Path, db_url: str | None = None) -> Path:
    """nbgrader's generate_assignment of ``lab`` into ``release_dir`` (and into the gradebook at ``db_url``, else
    the course's own): the student notebook it made, as nbgrader made it."""
    run_nbgrader(root, "generate_assignment", lab, "--force", f"--CourseDirectory.release_directory={release_dir}",
                 env={"COURSE_DB_URL": db_url} if db_url else None)
    return Path(release_dir) / lab / f"{lab}.ipynb"
