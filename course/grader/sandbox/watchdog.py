"""A sandbox-wide memory cap where no cgroup can be had (an ordinary user on cgroup v1, or without a user manager).

Each process of the sandbox is capped by ``RLIMIT_DATA``; :class:`MemoryWatch` adds up the memory of the whole
process tree every ``interval`` seconds and kills the tree when the sum passes the cap, so many processes cannot
together take more than one may, nor shared mappings (which ``RLIMIT_DATA`` does not count) more than the cap. The
sum is of anonymous and shared memory, first as resident sizes (cheap, but pages a fork shares are counted once per
process), and only when that passes the cap as proportional sizes (``Pss_Anon + Pss_Shmem``: each shared page
counted once), so forked workers are not mistaken for copies. It reads ``/proc`` from the grader's side; the
student's code cannot see or stop it.
"""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

__all__ = ["MemoryWatch", "tree", "resident_bytes", "proportional_bytes"]


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (through /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                todo += [int(c) for c in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
            except (OSError, ValueError):
                pass
    return found


def _fields(path: str, names: tuple[str, ...]) -> int | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    total, seen = 0, False
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            total += int(rest.split()[0]) * 1024
            seen = True
    return total if seen else None


def resident_bytes(pid: int) -> int:
    """Anonymous and shared memory resident in ``pid`` (pages shared with other processes counted in full)."""
    return _fields(f"/proc/{pid}/status", ("RssAnon", "RssShmem")) or 0


def proportional_bytes(pid: int) -> int:
    """The same, with each shared page divided among the processes that map it (kernels without
    ``smaps_rollup`` fall back to :func:`resident_bytes`)."""
    value = _fields(f"/proc/{pid}/smaps_rollup", ("Pss_Anon", "Pss_Shmem"))
    return resident_bytes(pid) if value is None else value


class MemoryWatch:
    """Kill the tree under ``pid`` once its processes together hold more than ``limit`` bytes of private memory."""

    def __init__(self, pid: int, limit: int, interval: float = 0.2) -> None:
        self.pid, self.limit, self.interval = pid, limit, interval
        self.tripped = False
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"memory-watch-{pid}")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            pids = tree(self.pid)
            used = sum(resident_bytes(p) for p in pids)
            if used > self.limit:
                used = sum(proportional_bytes(p) for p in pids)
            self.peak = max(self.peak, used)
            if used > self.limit:
                self.tripped = True
                for p in reversed(pids):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                return
            if not pids or not Path(f"/proc/{self.pid}").exists():
                return

    def stop(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)
