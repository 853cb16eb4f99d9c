"""The sandbox's filesystem view: what exists in there, where, and whether it can be written.

Inside, every path the runner needs lives under ``/sandbox``, whatever it is called on the host, so no path of the
grader's machine (a home folder, the checkout, a user name) shows through:

    /usr, /bin, /lib...     the system, read-only (and a few files of /etc)
    /sandbox/python         the base interpreter, when it is not under /usr (pyenv, uv, conda...)
    /sandbox/venv           the venv's lib/ (site-packages), with its own pyvenv.cfg and bin/python
    /sandbox/lib/course     the ``course`` package (the runner's PYTHONPATH is /sandbox/lib)
    /sandbox/data/N         the data folders, read-only
    /sandbox/in             the submission's scratch copy, read-only: the runner copies it into work/ first
    /sandbox/rw             the only writable place: a tmpfs of ``scratch_limit`` bytes holding work/ (the cwd)
                            and tmp/ (/tmp points there)
    /dev/shm                a tmpfs of ``shm_limit`` bytes
    /proc, /dev             fresh; / and /dev themselves read-only

:class:`View` builds the bubblewrap arguments and translates the host paths the engine puts in the runner's
environment (``HOME``, ``COURSE_DATA``, ``PYTHONPATH``...) into these.
"""
from __future__ import annotations

import functools
import os
import site
import sys
from dataclasses import dataclass, field
from pathlib import Path

import course

__all__ = ["View", "INSIDE", "WORK", "SEED", "RW", "python_paths"]

INSIDE = Path("/sandbox")
RW = INSIDE / "rw"
WORK = RW / "work"
TMP = RW / "tmp"
SEED = INSIDE / "in"

# Files of /etc a Python process may want (dynamic linker, user names, time zone); nothing else of /etc.
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
        "timezone", "hosts", "host.conf", "os-release", "debian_version", "mime.types", "alternatives")
# Top-level system folders: bound read-only when they are real folders, re-created as symlinks when they are
# symlinks (merged /usr: /bin -> usr/bin, ...).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Read by some libraries (pytorch's cpuinfo, OpenBLAS) to count the CPUs; harmless, read-only.
_SYS = ("/sys/devices/system/cpu",)


def _under_usr(p: Path) -> bool:
    return p == Path("/usr") or Path("/usr") in p.parents


@dataclass(frozen=True)
class PythonPaths:
    """Where this interpreter, its venv and the ``course`` package are on the host."""

    base: Path                 # sys.base_prefix
    executable: Path           # the base interpreter binary (resolved)
    venv: Path | None          # sys.prefix when it is a venv
    site_dirs: tuple[Path, ...]    # site-packages outside the venv and the base prefix (layered venvs, user site)
    package_parent: Path       # the folder holding the ``course`` package
    version: str


@functools.lru_cache(maxsize=None)
def python_paths() -> PythonPaths:
    base = Path(sys.base_prefix).resolve()
    venv = Path(sys.prefix).resolve() if sys.prefix != sys.base_prefix else None
    executable = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    sites: list[Path] = []
    try:
        candidates = site.getsitepackages()
    except AttributeError:                      # pragma: no cover - virtualenv's old site.py
        candidates = []
    candidates += [p for p in sys.path if p and Path(p).name in ("site-packages", "dist-packages")]
    for p in candidates:
        q = Path(p).resolve()
        if not q.is_dir() or q in sites:
            continue
        if (venv and (q == venv or venv in q.parents)) or q == base or base in q.parents or _under_usr(q):
            continue
        sites.append(q)
    return PythonPaths(base, executable, venv, tuple(sites), Path(course.__file__).resolve().parent.parent,
                       f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}")


@dataclass
class View:
    """The bubblewrap arguments for one run, and the host → sandbox path map for its environment."""

    cwd: Path                                  # the submission's scratch copy on the host
    readonly: list[Path]                       # data folders
    scratch_limit: int
    shm_limit: int
    args: list[str] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)   # read ends of pipes holding file contents: pass, then close
    mapping: list[tuple[Path, Path]] = field(default_factory=list)    # host → inside, longest host path first
    python: str = ""                           # the interpreter to run inside

    def build(self) -> "View":
        """Fill ``args``; file contents travel in pipes whose read ends are in ``fds`` (pass them, then close)."""
        a = self.args
        for top in _SYSTEM_DIRS:
            p = Path(top)
            if p.is_symlink():
                a += ["--symlink", os.readlink(p), top]
            elif p.is_dir():
                a += ["--ro-bind", top, top]
        for name in _ETC:
            p = Path("/etc") / name
            if p.exists():
                self._parents(p)
                a += ["--ro-bind", str(p), str(p)]
        for top in _SYS:
            if Path(top).is_dir():
                self._parents(Path(top))
                a += ["--ro-bind", top, top]
        a += ["--proc", "/proc", "--dev", "/dev",
              "--perms", "1777", "--size", str(self.shm_limit), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
        self._python()
        for i, folder in enumerate(dict.fromkeys(p.resolve() for p in self.readonly if p.exists())):
            self._bind(folder, INSIDE / "data" / str(i))
        self._parents(SEED)
        self.args += ["--ro-bind", str(self.cwd.resolve()), str(SEED)]
        self.mapping.append((self.cwd.resolve(), WORK))
        if self.cwd.absolute() != self.cwd.resolve():
            self.mapping.append((self.cwd.absolute(), WORK))
        a += ["--perms", "1777", "--size", str(self.scratch_limit), "--tmpfs", str(RW),
              "--symlink", str(TMP), "/tmp", "--remount-ro", "/", "--chdir", str(RW)]
        self.mapping.sort(key=lambda m: len(m[0].parts), reverse=True)
        return self

    def _parents(self, dest: Path) -> None:
        """Create ``dest``'s missing parents as 0755 folders (bubblewrap would make them 0700: unreachable for
        ``nobody`` when the grader is root)."""
        made = self.__dict__.setdefault("_made", {Path("/"), Path("/usr")})
        for d in reversed(dest.parents):
            if d not in made:
                self.args += ["--perms", "0755", "--dir", str(d)]
                made.add(d)

    def _bind(self, src: Path, dest: Path) -> None:
        self._parents(dest)
        self.args += ["--ro-bind", str(src), str(dest)]
        self.mapping.append((src, dest))

    def _data(self, content: bytes, dest: Path) -> None:
        r, w = os.pipe()
        os.write(w, content)        # a few hundred bytes: far below a pipe's buffer
        os.close(w)
        self.fds.append(r)
        self._parents(dest)
        self.args += ["--perms", "0644", "--ro-bind-data", str(r), str(dest)]

    def _python(self) -> None:
        """The interpreter, the venv and the ``course`` package at /sandbox paths (or /usr, where they are)."""
        pp = python_paths()
        if _under_usr(pp.base):
            base_inside, executable = pp.base, pp.executable
        else:
            base_inside = INSIDE / "python"
            self._bind(pp.base, base_inside)
            executable = base_inside / pp.executable.relative_to(pp.base)
        self.python = str(executable)
        if pp.venv is not None:
            venv = INSIDE / "venv"
            for lib in ("lib", "lib64"):
                src = pp.venv / lib
                if src.is_symlink():
                    self._parents(venv / lib)
                    self.args += ["--symlink", os.readlink(src), str(venv / lib)]
                elif src.is_dir():
                    self._bind(src.resolve(), venv / lib)
            # The venv found by its bin/python and its pyvenv.cfg, which says where the base interpreter is inside.
            cfg = _pyvenv_cfg(pp.venv / "pyvenv.cfg", executable.parent, pp.version)
            self._data(cfg.encode(), venv / "pyvenv.cfg")
            self._parents(venv / "bin" / "python")
            self.args += ["--symlink", str(executable), str(venv / "bin" / "python")]
            self.mapping.append((pp.venv, venv))
            self.python = str(venv / "bin" / "python")
        for i, folder in enumerate(pp.site_dirs):
            self._bind(folder, INSIDE / "site" / str(i))
        # The ``course`` package (an editable install's checkout folder, or site-packages): only the package.
        package = pp.package_parent / "course"
        self._parents(INSIDE / "lib" / "course")
        self.args += ["--ro-bind", str(package), str(INSIDE / "lib" / "course")]
        self.mapping.append((pp.package_parent, INSIDE / "lib"))

    def inside(self, value: str) -> str:
        """``value`` (a path, or paths joined by ``os.pathsep``) with host paths replaced by sandbox paths."""
        parts = []
        for part in value.split(os.pathsep):
            p = Path(part)
            if part and p.is_absolute():
                for host, inner in self.mapping:
                    if p == host or host in p.parents:
                        part = str(inner / p.relative_to(host))
                        break
            parts.append(part)
        return os.pathsep.join(parts)


def _pyvenv_cfg(original: Path, home: Path, version: str) -> str:
    system_site = "false"
    try:
        for line in original.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "include-system-site-packages":
                system_site = value.strip()
    except OSError:
        pass
    return f"home = {home}\ninclude-system-site-packages = {system_site}\nversion = {version}\n"
