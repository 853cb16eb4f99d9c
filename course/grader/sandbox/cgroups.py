"""The sandbox's cgroups: a memory cap and a process/thread cap for one run, and ending everything in them.

:func:`create_cgroup` makes one run's memory and pids groups (cgroup v1 preferred, else v2; a single v2 group
holds both controllers) with their limits set, inside this process's own group when it may, so that the limits of
whatever runs the grader still apply. :class:`Cgroup` lists the tasks in them, counts the kernel's OOM kills
and :meth:`Cgroup.kill_all` empties and removes them. :func:`cgroup_probe` says once per process whether
groups can be made here (root and mounted controllers needed), removing first the empty groups a killed grader
left behind.

Used by :mod:`.launcher` only (root only).
"""
from __future__ import annotations

import functools
import itertools
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cgroup", "create_cgroup", "cgroup_probe"]

_CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Cgroup:
    """One sandbox's cgroups: a memory and a pids group (the same folder on cgroup v2)."""

    version: int
    memory: Path | None
    pids: Path | None
    memory_limit: int
    dirs: list[Path] = field(default_factory=list)   # what to rmdir, deepest last created first

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def tasks(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            for name in ("cgroup.procs", "tasks", "cgroup.threads"):
                try:
                    text = (d / name).read_text()
                except OSError:
                    continue
                found.update(int(t) for t in text.split())
        return found

    def oom_kills(self) -> int:
        """How many processes the kernel killed because this group hit its memory limit."""
        if self.memory is None:
            return 0
        try:
            if self.version == 1:
                info = _keyed((self.memory / "memory.oom_control").read_text())
                if "oom_kill" in info:                 # Linux >= 4.13
                    return info["oom_kill"]
                # Older kernels: the limit was hit and the group's peak is at the limit.
                failcnt = int((self.memory / "memory.failcnt").read_text())
                peak = int((self.memory / "memory.max_usage_in_bytes").read_text())
                return int(failcnt > 0 and peak >= self.memory_limit * 0.95)
            events = _keyed((self.memory / "memory.events").read_text())
            return events.get("oom_kill", 0) + events.get("oom_group_kill", 0)
        except (OSError, ValueError):
            return 0

    def kill_all(self, timeout: float = 10.0) -> bool:
        """SIGKILL every task until none is left, then remove the groups. True when all are gone."""
        deadline = time.monotonic() + timeout
        for d in self.dirs:
            if self.version == 2 and (d / "cgroup.kill").exists():
                try:
                    (d / "cgroup.kill").write_text("1")
                except OSError:
                    pass
        while True:
            tasks = self.tasks()
            for pid in tasks:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if not tasks:
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        gone = True
        for d in reversed(self.dirs):
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:                      # EBUSY: a task is still exiting
                    if time.monotonic() > deadline:
                        gone = False
                        break
                    for pid in self.tasks():
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except (ProcessLookupError, PermissionError):
                            pass
                    time.sleep(0.01)
        return gone


def _keyed(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


@dataclass(frozen=True)
class _Hierarchy:
    version: int
    mount: Path           # where the hierarchy is mounted
    own: str              # this process's group in it ("/..." relative to the mount)


def _hierarchies() -> dict[str, _Hierarchy]:
    """Where the memory and pids controllers are: {"memory": ..., "pids": ...}, cgroup v1 preferred."""
    if not sys.platform.startswith("linux"):
        return {}
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        own_lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    own_v1: dict[str, str] = {}
    own_v2 = "/"
    for line in own_lines:
        hid, controllers, path = line.split(":", 2)
        if hid == "0" and controllers == "":
            own_v2 = path
        for c in controllers.split(","):
            own_v1[c] = path
    found: dict[str, _Hierarchy] = {}
    v2_mount: Path | None = None
    for line in mounts:
        parts = line.split()
        if len(parts) < 4:
            continue
        mount, fstype, options = Path(parts[1].replace("\\040", " ")), parts[2], parts[3].split(",")
        if fstype == "cgroup":
            for c in ("memory", "pids"):
                if c in options and c not in found:
                    found[c] = _Hierarchy(1, mount, own_v1.get(c, "/"))
        elif fstype == "cgroup2" and v2_mount is None:
            v2_mount = mount
    if v2_mount is not None:
        try:
            available = (v2_mount / "cgroup.controllers").read_text().split()
        except OSError:
            available = []
        for c in ("memory", "pids"):
            if c not in found and c in available:
                found[c] = _Hierarchy(2, v2_mount, own_v2)
    return found


_counter = itertools.count()


def _group_name() -> str:
    return f"course-grader.{os.getpid()}.{next(_counter)}.{os.urandom(3).hex()}"


def _candidates(h: _Hierarchy) -> list[Path]:
    """Parents to create a group in: this process's own group (so that the limits of whatever runs the grader
    still apply), else the hierarchy's root (a container may show the root only)."""
    own = h.mount / h.own.lstrip("/")
    return [own, h.mount] if own != h.mount and own.is_dir() else [h.mount]


def _make_group(h: _Hierarchy, controllers: list[str], name: str) -> Path:
    """Create ``name`` with ``controllers`` usable in it; raise OSError when no parent allows it."""
    errors = []
    knobs = [("memory.limit_in_bytes" if h.version == 1 else "memory.max") if c == "memory" else "pids.max"
             for c in controllers]
    for parent in _candidates(h):
        if h.version == 2:     # a v2 child has a controller only when its parent hands it down
            try:
                enabled = (parent / "cgroup.subtree_control").read_text().split()
                missing = " ".join(f"+{c}" for c in controllers if c not in enabled)
                if missing:
                    (parent / "cgroup.subtree_control").write_text(missing)
            except OSError as exc:
                errors.append(f"{parent}: {exc.strerror or exc}")
                continue
        group = parent / name
        try:
            group.mkdir(exist_ok=True)
        except OSError as exc:
            errors.append(f"{parent}: {exc.strerror or exc}")
            continue
        if all((group / k).exists() for k in knobs):
            return group
        errors.append(f"{parent}: no {' or '.join(knobs)} in a new group")
        try:
            group.rmdir()
        except OSError:
            pass
    raise OSError("; ".join(errors) or "no cgroup parent")


def create_cgroup(memory_limit: int, pids_limit: int) -> Cgroup:
    """Both groups with their limits set, or OSError (nothing left behind)."""
    hs = _hierarchies()
    if "memory" not in hs or "pids" not in hs:
        missing = [c for c in ("memory", "pids") if c not in hs]
        raise OSError(f"no cgroup {' or '.join(missing)} controller mounted")
    name = _group_name()
    cg = Cgroup(hs["memory"].version, None, None, memory_limit)
    try:
        same = hs["memory"].version == 2 and hs["pids"] == hs["memory"]     # one v2 group has both controllers
        mem = _make_group(hs["memory"], ["memory", "pids"] if same else ["memory"], name)
        cg.dirs.append(mem)
        cg.memory = mem
        if hs["memory"].version == 1:
            (mem / "memory.limit_in_bytes").write_text(str(memory_limit))
            memsw = mem / "memory.memsw.limit_in_bytes"
            if memsw.exists():            # swap accounting on: memory + swap together under the same cap
                memsw.write_text(str(memory_limit))
        else:
            (mem / "memory.max").write_text(str(memory_limit))
            if (mem / "memory.swap.max").exists():
                (mem / "memory.swap.max").write_text("0")
        pids_h = hs["pids"]
        if same:
            pids = mem
        else:
            pids = _make_group(pids_h, ["pids"], name)
            cg.dirs.append(pids)
        (pids / "pids.max").write_text(str(pids_limit))
        cg.pids = pids
        return cg
    except OSError:
        cg.kill_all(timeout=1)
        raise


def _remove_stale_groups() -> None:
    """Empty groups left by a grader that was killed before it could remove them (rmdir fails on others)."""
    for h in _hierarchies().values():
        for parent in _candidates(h):
            try:
                stale = [g for g in parent.glob("course-grader.*.*.*") if g.is_dir()]
            except OSError:
                continue
            for group in stale:
                pid = group.name.split(".")[1]
                if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                    try:
                        group.rmdir()
                    except OSError:
                        pass


@functools.lru_cache(maxsize=None)
def cgroup_probe() -> tuple[int, str]:
    """(cgroup version, "") when memory and pids groups can be made here, else (0, why not)."""
    if not sys.platform.startswith("linux"):
        return 0, f"no cgroups on {sys.platform}"
    _remove_stale_groups()
    try:
        cg = create_cgroup(64 << 20, 16)
    except OSError as exc:
        why = "not root" if os.geteuid() != 0 else "cannot create cgroups"
        return 0, f"{why}: {exc}"
    cg.kill_all(timeout=2)
    return cg.version, ""
