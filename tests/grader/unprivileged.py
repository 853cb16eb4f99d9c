"""An ordinary user with its own copy of this checkout and its own venv (the README's install), for the tests that
must hold as someone who is not root: most instructors grade as themselves.

Made by root, once per machine: the user ``course-probe`` (``COURSE_PROBE_USER``), its copy of the checkout in
``~/course`` (what ``git ls-files`` lists, working-tree changes included, synchronised each session) and, in there,
``.venv`` made by the README's own commands (``python3 -m venv .venv && . .venv/bin/activate && pip install -e
".[instructor]"``), made again only when ``pyproject.toml`` changes. pytest is added to it to run the fault
fixtures there. No system bubblewrap is involved: the venv's is the one the install brought.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProbeUser", "probe_user", "UnavailableError"]

ROOT = Path(__file__).resolve().parents[2]
NAME = os.environ.get("COURSE_PROBE_USER", "course-probe")
INSTALL = 'python3 -m venv .venv && . .venv/bin/activate && pip install -q -e ".[instructor]" && pip install -q pytest'


class UnavailableError(RuntimeError):
    """No ordinary user can be made here (not root, no useradd, ...)."""


@dataclass(frozen=True)
class ProbeUser:
    name: str
    uid: int
    home: Path
    checkout: Path

    @property
    def python(self) -> Path:
        return self.checkout / ".venv" / "bin" / "python"

    def run(self, command: str, *, env: dict[str, str] | None = None, timeout: float = 1800,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
        """``command`` (a shell line) as this user, in ``cwd`` (its checkout), with a login environment plus ``env``."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        line = f"cd {shlex.quote(str(cwd or self.checkout))} && {('export ' + exports + ' && ') if exports else ''}{command}"
        return subprocess.run(["su", "-", self.name, "-c", line], capture_output=True, text=True, timeout=timeout)


def _files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                         check=True)
    return [f for f in out.stdout.decode().split("\0") if f and (ROOT / f).is_file()]


def _sync(dest: Path, uid: int, gid: int) -> None:
    """Make ``dest`` hold exactly the checkout's files (its venv and caches left alone), owned by the user."""
    wanted = set(_files())
    dest.mkdir(parents=True, exist_ok=True)
    for rel in sorted(wanted):
        src, dst = ROOT / rel, dest / rel
        data = src.read_bytes()
        if not dst.is_file() or dst.read_bytes() != data:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
            shutil.copymode(src, dst)
    keep = {".venv", "__pycache__", ".pytest_cache", "data", "test-artifacts"}
    for path in sorted(dest.rglob("*"), reverse=True):
        rel = path.relative_to(dest)
        if keep & set(rel.parts) or any(p.endswith(".egg-info") for p in rel.parts):
            continue
        if path.is_file() and str(rel) not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    for root, dirs, files in os.walk(dest):
        dirs[:] = [d for d in dirs if d != ".venv"]
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)
    os.lchown(dest, uid, gid)


def probe_user() -> ProbeUser:
    """The user, its synchronised checkout and its venv; :class:`UnavailableError` when they cannot be made."""
    if os.geteuid() != 0:
        raise UnavailableError("making a throw-away user needs root")
    if not shutil.which("useradd") or not shutil.which("su"):
        raise UnavailableError("useradd and su are needed to make a throw-away user")
    try:
        entry = pwd.getpwnam(NAME)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", NAME], check=True, capture_output=True)
        entry = pwd.getpwnam(NAME)
    home = Path(entry.pw_dir)
    user = ProbeUser(NAME, entry.pw_uid, home, home / "course")
    _sync(user.checkout, entry.pw_uid, entry.pw_gid)
    stamp = user.checkout / ".venv" / ".course-pyproject-sha256"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not user.python.exists() or not stamp.is_file() or stamp.read_text().strip() != want:
        shutil.rmtree(user.checkout / ".venv", ignore_errors=True)
        done = user.run(INSTALL)
        if done.returncode != 0:
            raise UnavailableError(f"the README's install failed as {NAME}:\n{(done.stdout + done.stderr)[-3000:]}")
        user.run(f"echo {want} > {shlex.quote(str(stamp))}")
    return user


if __name__ == "__main__":       # `.ci/run` makes the user and its venv while the quick tests run
    print(probe_user())
