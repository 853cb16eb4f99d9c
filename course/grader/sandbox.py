"""The sandboxed launcher: the runner (and so the student's code) in a cage of its own.

:class:`Sandbox` starts the runner

* as an unprivileged user (``nobody``/``nogroup``, uid/gid 65534, no capabilities, ``no_new_privs``) when the
  grader runs as root (``setpriv``);
* in new network, pid, ipc and uts namespaces (no network but a loopback of its own: nothing of the host's,
  not even its 127.0.0.1; the whole process tree dies with the runner, double-forked daemons included);
* with a filesystem view of its own (bubblewrap): ``/usr``, a few files of ``/etc``, the interpreter
  (``sys.base_prefix``), the venv (``sys.prefix``, site-packages) and the ``course`` package folder, all
  read-only; the data folders read-only; the scratch folder (``cwd``) read-write; fresh ``/tmp``, ``/dev``,
  ``/proc``. Nothing else exists in there: not the repository checkout (``autograder/``: gradebook,
  references, hidden judges), not ``/root``, not the other submissions;
* in a memory cgroup (default 4 GiB, swap included when the kernel accounts it) and a pids cgroup (default
  256 tasks; Linux counts threads as tasks, so this caps processes *and* threads), made and removed by
  :mod:`course.grader.cgroups`;
* with exactly the environment the caller passes.

:meth:`Sandbox.kill` ends everything: the outer process (which takes the pid namespace down with it), then
every task left in the cgroups, then the cgroups themselves.

Every mechanism is probed once per process; what this machine or these rights lack is switched off, never
fatal: without bubblewrap ``unshare`` still gives the namespaces (without a filesystem view), without root there
are no cgroups or user switch, and with nothing at all (macOS) the runner is a plain child process in a session
of its own. :meth:`Sandbox.protections` says what is in force, :func:`describe` says it in words.
"""
from __future__ import annotations

import functools
import os
import shutil
import signal
import stat
import subprocess
import sys
import warnings
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .cgroups import _Cgroup, _cgroup_probe, _create_cgroup
from .launch import Launcher, PlainLauncher, Protection

__all__ = ["Sandbox", "default_launcher", "describe", "GiB", "NOBODY", "PROTECTIONS"]

GiB = 1 << 30
NOBODY = 65534                       # nobody / nogroup on Debian
PROTECTIONS = ("unprivileged user", "network", "memory cap", "process/thread cap", "filesystem view",
               "pid namespace")

_SH = "/bin/sh"
# Put the wrapper itself into the cgroups ($1 = how many cgroup.procs files follow), then become the sandbox:
# every process of the sandbox descends from it, so all of them are in the cgroups from their first instruction.
_ENTER_CGROUPS = ('n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; '
                  'exec "$@"')
# Files of /etc a Python process may want (dynamic linker, user names, time zone); nothing else of /etc.
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
        "timezone", "hosts", "host.conf", "os-release", "debian_version", "mime.types", "alternatives")
# Top-level system folders: bound read-only when they are real folders, re-created as symlinks when they are
# symlinks (merged /usr: /bin -> usr/bin, ...).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Read by some libraries (pytorch's cpuinfo, OpenBLAS) to count the CPUs; harmless, read-only.
_SYS = ("/sys/devices/system/cpu",)


# ---------------------------------------------------------------------------------------------------------
# namespaces, bubblewrap, setpriv
# ---------------------------------------------------------------------------------------------------------
def _probe(argv: list[str]) -> str:
    """"" when ``argv`` runs and exits 0, else why not (its stderr)."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20,
                              env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return ""
    return (done.stderr.decode(errors="replace").strip().splitlines() or [f"exit code {done.returncode}"])[-1]


@functools.lru_cache(maxsize=None)
def _tools() -> dict[str, str]:
    return {name: path for name in ("bwrap", "unshare", "setpriv", "env")
            if (path := shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin"))}


@functools.lru_cache(maxsize=None)
def _bwrap_probe(bwrap: str) -> str:
    return _probe([bwrap, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-net",
                   "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
                   "--", "/bin/true"])


@functools.lru_cache(maxsize=None)
def _unshare_probe(unshare: str) -> str:
    return _probe([unshare, "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts",
                   "/bin/true"])


@functools.lru_cache(maxsize=None)
def _setpriv_probe(setpriv: str, uid: int, gid: int) -> str:
    return _probe(_setpriv_argv(setpriv, uid, gid) + ["/bin/true"])


def _setpriv_argv(setpriv: str, uid: int, gid: int) -> list[str]:
    # setuid away from root drops the permitted/effective capabilities; the bounding and inheritable sets go
    # too, and no_new_privs stops any setuid binary or file capability from giving them back.
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


def _python_paths() -> list[Path]:
    """What a runner needs to see to run this interpreter with this venv and the ``course`` package."""
    paths: list[str] = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    try:
        import site

        paths += site.getsitepackages()
    except (AttributeError, ImportError):        # pragma: no cover - virtualenv's old site.py
        pass
    # Package folders a .pth file added (a venv layered on another one): site-packages-like entries only, never
    # a script's folder or the working directory (that may be the repository).
    paths += [p for p in sys.path if p and Path(p).name in ("site-packages", "dist-packages")]
    import course

    # An editable install's finder maps ``course`` to the checkout's package folder: bind that folder (and only
    # it, not the repository) at the path it has here.
    paths.append(str(Path(course.__file__).parent))
    out: list[Path] = []
    for p in paths:
        for q in (Path(p).absolute(), Path(p).resolve()):
            if q.exists() and q not in out:
                out.append(q)
    return out


def _reachable(path: Path, uid: int, gid: int) -> bool:
    """Whether ``uid`` could traverse to ``path`` on this filesystem (no view of its own)."""
    p = path.resolve()
    for folder in [*reversed(p.parents), p]:
        try:
            st = folder.stat()
        except OSError:
            return False
        mode = st.st_mode
        if st.st_uid == uid:
            ok = mode & stat.S_IXUSR
        elif st.st_gid == gid:
            ok = mode & stat.S_IXGRP
        else:
            ok = mode & stat.S_IXOTH
        if not ok and stat.S_ISDIR(mode):
            return False
    return True


def _inside(p: Path, folder: Path) -> bool:
    return p == folder or folder in p.parents


# ---------------------------------------------------------------------------------------------------------
# the launcher
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _Run:
    proc: subprocess.Popen
    cgroup: _Cgroup | None
    oom_kills: int | None = None          # kept when the cgroup is removed


class Sandbox:
    """A :class:`~course.grader.launch.Launcher` that isolates the runner as far as this machine allows.

    ``readonly``: folders the runner may read (the data root); ``memory_limit`` in bytes (swap included);
    ``pids_limit``: processes *and* threads together. ``uid``/``gid``: who the runner is when the grader is root.
    ``use_bwrap`` / ``use_unshare`` / ``use_cgroups`` / ``use_setpriv``: None (or True) = when available,
    False = never (tests, debugging). ``extra_readonly``: more folders to show read-only (e.g. a second venv).
    The mechanisms are probed once per grader process; :meth:`protections` says what came out of it.
    """

    def __init__(self, readonly: Iterable[Path] = (), *, memory_limit: int = 4 * GiB, pids_limit: int = 256,
                 uid: int = NOBODY, gid: int = NOBODY, use_bwrap: bool | None = None,
                 use_unshare: bool | None = None, use_cgroups: bool | None = None,
                 use_setpriv: bool | None = None, extra_readonly: Iterable[Path] = ()) -> None:
        self.readonly = [Path(p).absolute() for p in readonly]
        self.extra_readonly = [Path(p).absolute() for p in extra_readonly]
        self.memory_limit = int(memory_limit)
        self.pids_limit = int(pids_limit)
        self.uid, self.gid = uid, gid
        self._runs: list[_Run] = []
        self._last: _Run | None = None
        self._finalizer = weakref.finalize(self, _kill_runs, self._runs)
        self._off: dict[str, str] = {}           # protection -> why it is off
        self._decide(use_bwrap, use_unshare, use_cgroups, use_setpriv)

    # -- what is available ----------------------------------------------------------------------------------
    def _decide(self, use_bwrap, use_unshare, use_cgroups, use_setpriv) -> None:
        linux = sys.platform.startswith("linux")
        tools = _tools() if linux else {}
        root = linux and os.geteuid() == 0

        self.bwrap: str | None = None
        self.unshare: str | None = None
        why_bwrap = why_unshare = ""
        if use_bwrap is False:
            why_bwrap = "bubblewrap switched off"
        elif not linux:
            why_bwrap = f"no bubblewrap on {sys.platform}"
        elif "bwrap" not in tools:
            why_bwrap = "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
        elif err := _bwrap_probe(tools["bwrap"]):
            why_bwrap = f"bwrap does not work here: {err}"
        else:
            self.bwrap = tools["bwrap"]
        if self.bwrap is None:
            if use_unshare is False:
                why_unshare = "unshare switched off"
            elif not linux:
                why_unshare = f"no namespaces on {sys.platform}"
            elif "unshare" not in tools:
                why_unshare = "unshare (util-linux) is not installed"
            elif err := _unshare_probe(tools["unshare"]):
                why_unshare = f"unshare does not work here: {err}"
            else:
                self.unshare = tools["unshare"]
        if self.bwrap is None and self.unshare is None:
            why = f"{why_bwrap}; {why_unshare}" if why_bwrap and why_unshare else why_bwrap or why_unshare
            self._off["network"] = why
            self._off["pid namespace"] = why + "; kill() ends the process group (and the cgroups) only"
        if self.bwrap is None:
            self._off["filesystem view"] = (why_bwrap or "bubblewrap not available") + \
                "; the runner sees the whole filesystem with its user's rights"

        self.env_tool = tools.get("env")
        self.setpriv: str | None = None
        if use_setpriv is False:
            self._off["unprivileged user"] = "user switch switched off"
        elif not root:
            self._off["unprivileged user"] = ("not root: the runner runs as the grader's own user"
                                              if linux else f"no user switch on {sys.platform}")
        elif "setpriv" not in tools:
            self._off["unprivileged user"] = "setpriv (util-linux) is not installed"
        elif err := _setpriv_probe(tools["setpriv"], self.uid, self.gid):
            self._off["unprivileged user"] = f"setpriv does not work here: {err}"
        elif self.bwrap is None and not all(_reachable(p, self.uid, self.gid) for p in _python_paths()):
            self._off["unprivileged user"] = (f"uid {self.uid} cannot reach the interpreter or the course package "
                                              f"without bubblewrap's filesystem view (e.g. under /root)")
        else:
            self.setpriv = tools["setpriv"]

        self.cgroup_version = 0
        if use_cgroups is False:
            why = "cgroups switched off"
        else:
            self.cgroup_version, why = _cgroup_probe()
        if not self.cgroup_version:
            self._off["memory cap"] = why
            self._off["process/thread cap"] = why

    def protections(self) -> list[Protection]:
        v = f"cgroup v{self.cgroup_version}"
        on = {
            "unprivileged user": f"uid {self.uid}, gid {self.gid}, no supplementary groups, no capabilities, "
                                 f"no_new_privs",
            "network": "a network namespace of its own: no interface but its own loopback (the host's is out of reach)"
                       if self.bwrap else "a network namespace of its own: no interface is up",
            "memory cap": f"{v}: {_gib(self.memory_limit)} GiB" + (", swap included" if self.cgroup_version else ""),
            "process/thread cap": f"{v} pids.max = {self.pids_limit} (processes and threads together)",
            "filesystem view": "bubblewrap: /usr, the interpreter, the venv and the course package read-only, "
                               "the data folders read-only, the scratch folder read-write; no repository, "
                               "no /root, no other submission",
            "pid namespace": "the runner's whole process tree dies with it" +
                             ("; kill() also empties the cgroups" if self.cgroup_version else ""),
        }
        return [Protection(name, name not in self._off, self._off.get(name, on[name])) for name in PROTECTIONS]

    # -- the command ----------------------------------------------------------------------------------------
    def _bwrap_argv(self, cwd: Path) -> list[str]:
        assert self.bwrap is not None
        args: list[str] = [self.bwrap]
        made: set[Path] = {Path("/")}
        binds: list[Path] = []              # destinations of bind mounts so far (no --dir inside those)

        def parents(dest: Path) -> None:
            for d in [*reversed(dest.parents), dest][:-1]:
                if d in made or any(_inside(d, b) for b in binds):
                    continue
                # bwrap would create missing parents with mode 0700: unreachable for the sandbox's user
                args.extend(["--perms", "0755", "--dir", str(d)])
                made.add(d)

        def bind(kind: str, src: Path, dest: Path | None = None) -> None:
            dest = dest or src
            parents(dest)
            args.extend([kind, str(src), str(dest)])
            binds.append(dest)
            made.add(dest)

        for top in _SYSTEM_DIRS:
            p = Path(top)
            if p.is_symlink():
                args.extend(["--symlink", os.readlink(p), top])
                made.add(p)
            elif p.is_dir():
                bind("--ro-bind", p)
        for name in _ETC:
            p = Path("/etc") / name
            if p.exists():
                bind("--ro-bind", p)
        for top in _SYS:
            if Path(top).is_dir():
                bind("--ro-bind", Path(top))
        args.extend(["--proc", "/proc", "--dev", "/dev"])
        made.update({Path("/proc"), Path("/dev")})
        # Fresh, world-writable (sticky) /tmp and /dev/shm; what is written there counts against the memory cap.
        args.extend(["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"])
        made.update({Path("/tmp"), Path("/dev/shm")})

        given = self.extra_readonly + self.readonly
        ro = [p for p in _python_paths() + given + [q.resolve() for q in given] if p.exists()]
        rw = [cwd.absolute(), cwd.resolve()]
        mounts: list[tuple[Path, str]] = []
        for p in ro:
            if not any(_inside(p, q) for q, _ in mounts):
                mounts.append((p, "--ro-bind"))
        for p in rw:
            if (p, "--bind") not in mounts:
                mounts.append((p, "--bind"))
        # Outer folders first, so that a folder bound inside another one is not hidden by it.
        for p, kind in sorted(mounts, key=lambda m: (len(m[0].parts), m[1] == "--bind")):
            if kind == "--ro-bind" and any(_inside(p, b) for b in binds):
                continue        # already visible (read-only) through an outer binding (e.g. /usr)
            bind(kind, p)

        if os.geteuid() != 0:
            # bwrap uses a user namespace anyway; forbid the runner to make further ones.
            args.extend(["--unshare-user", "--disable-userns"])
        args.extend(["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                     "--hostname", "sandbox", "--die-with-parent", "--new-session", "--chdir", str(cwd.absolute()),
                     "--"])
        return args

    def _unshare_argv(self) -> list[str]:
        assert self.unshare is not None
        return [self.unshare, "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts", "--"]

    def command(self, argv: Sequence[str], cwd: Path, cgroup: _Cgroup | None = None,
                env: dict[str, str] | None = None) -> list[str]:
        """The whole command line ``popen`` runs for ``argv`` (for the record, and for tests)."""
        cmd: list[str] = []
        if cgroup is not None:
            files = cgroup.procs_files()
            cmd += [_SH, "-c", _ENTER_CGROUPS, "sh", str(len(files)), *map(str, files)]
        if self.bwrap:
            cmd += self._bwrap_argv(Path(cwd))
        elif self.unshare:
            cmd += self._unshare_argv()
        if self.setpriv:
            cmd += _setpriv_argv(self.setpriv, self.uid, self.gid)
        if cmd and env is not None and self.env_tool:
            # The shell and bwrap export PWD: give the runner exactly ``env`` again.
            cmd += [self.env_tool, f"PWD={env['PWD']}" if "PWD" in env else "-uPWD", "--"]
        return cmd + list(argv)

    # -- Launcher -------------------------------------------------------------------------------------------
    def popen(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        cwd = Path(cwd).absolute()
        if self.setpriv:
            _give(cwd, self.uid, self.gid)
        cgroup = None
        if self.cgroup_version:
            try:
                cgroup = _create_cgroup(self.memory_limit, self.pids_limit)
            except OSError as exc:     # worked when probed; run anyway, without the caps
                warnings.warn(f"sandbox: no cgroup for this run ({exc}): no memory or process cap", stacklevel=2)
        try:
            proc = subprocess.Popen(self.command(argv, cwd, cgroup, env), cwd=cwd, env=dict(env),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, close_fds=True)
        except BaseException:
            if cgroup is not None:
                cgroup.kill_all(timeout=2)
            raise
        run = _Run(proc, cgroup)
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
        if run is None or run.cgroup is None:
            return None
        code = run.proc.poll()
        if code is None:
            try:
                code = run.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                return None
        kills = run.oom_kills if run.oom_kills is not None else run.cgroup.oom_kills()
        # The runner was SIGKILLed (137 when bubblewrap or a shell reports it) and the kernel's OOM killer did it.
        if kills and code in (-signal.SIGKILL, 128 + signal.SIGKILL):
            return f"killed: memory limit of {_gib(self.memory_limit)} GiB reached"
        return None


def _kill_runs(runs: list[_Run]) -> None:
    for run in runs:
        proc = run.proc
        if proc.poll() is None:
            # The outer process (bwrap / unshare): its death takes the sandbox's pid 1 with it (die-with-parent,
            # kill-child), and the kernel then kills every process of the pid namespace.
            try:
                if hasattr(os, "killpg"):
                    os.killpg(proc.pid, signal.SIGKILL)      # its own session: start_new_session=True
                proc.kill()
            except OSError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if run.cgroup is not None:
            # Whatever is left (no pid namespace here, or a task between fork and death): kill it by the list.
            if run.oom_kills is None:
                run.oom_kills = run.cgroup.oom_kills()
            if not run.cgroup.kill_all():
                warnings.warn(f"sandbox: could not empty and remove {run.cgroup.dirs}", stacklevel=2)
    runs.clear()


def _give(folder: Path, uid: int, gid: int) -> None:
    """Make the scratch folder (a throw-away copy) the sandbox user's.

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


def _gib(n: int) -> str:
    return f"{n / GiB:g}"


# ---------------------------------------------------------------------------------------------------------
# module helpers
# ---------------------------------------------------------------------------------------------------------
def default_launcher(readonly: list[Path], **limits) -> Launcher:
    """A :class:`Sandbox` when this machine offers any isolation, else a :class:`PlainLauncher`."""
    sandbox = Sandbox(readonly, **limits)
    if any(p.active for p in sandbox.protections()):
        return sandbox
    return PlainLauncher()


def describe(protections: Iterable[Protection]) -> str:
    """A short note for the log: what guards the student's code here, and what does not."""
    protections = list(protections)
    off = [p for p in protections if not p.active]
    head = ("sandbox: all protections in force" if not off else
            "sandbox: no isolation" if len(off) == len(protections) else
            f"sandbox: {len(off)} of {len(protections)} protections OFF")
    lines = [head]
    for p in protections:
        lines.append(f"  [{'on ' if p.active else 'OFF'}] {p.name}" + (f": {p.detail}" if p.detail else ""))
    return "\n".join(lines)
