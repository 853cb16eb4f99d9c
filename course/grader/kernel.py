"""The judge's side of the channel: a runner process, and proxies to objects that live in it.

``k.ns.train_epoch(net, batches, opt, "cpu")`` sends a lookup and a call; the result stays in the runner
until ``k.fetch(...)`` brings it back as plain data. Every request has a deadline: a runner that does not
answer in time is killed with its whole process tree, and the request raises :class:`KernelTimeout`.
"""
from __future__ import annotations

import collections
import os
import select
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .launch import Launcher
from .protocol import MAX_MESSAGE, ProtocolError, decode, encode

__all__ = ["Kernel", "Remote", "KernelDied", "KernelTimeout", "RemoteError"]

_HEADER = 8


class KernelDied(RuntimeError):
    """The runner is gone (crashed, killed, exited)."""


class KernelTimeout(KernelDied):
    """The runner did not answer in time and was killed."""


class RemoteError(Exception):
    """Student code raised: ``ename`` and ``evalue`` as the runner reported them."""

    def __init__(self, ename: str, evalue: str) -> None:
        super().__init__(f"{ename}: {evalue}" if evalue else ename)
        self.ename, self.evalue = ename, evalue


class Remote:
    """An object in the runner. Attribute access and calls are forwarded; ``k.fetch(r)`` copies it here."""

    __slots__ = ("_kernel", "_ref", "_type")

    def __init__(self, kernel: "Kernel", ref: int, type_name: str) -> None:
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type", type_name)

    def __getattr__(self, name: str) -> "Remote":
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # copy, pickle and friends must not turn into remote calls
        return self._kernel._remote("getattr", ref=self._ref, name=name)

    def __call__(self, *args: Any, **kwargs: Any) -> "Remote":
        return self._kernel._remote("call", ref=self._ref, args=self._kernel._encode(list(args)),
                                    kwargs=self._kernel._encode(kwargs))

    def __getitem__(self, key: Any) -> "Remote":
        return self._kernel._remote("getattr", ref=self._ref, name="__getitem__")(key)

    def __repr__(self) -> str:
        return f"<Remote {self._type} #{self._ref}>"


class _Namespace:
    """``k.ns.NAME``: a global of the student's notebook."""

    def __init__(self, kernel: "Kernel") -> None:
        self._kernel = kernel

    def __getattr__(self, name: str) -> Remote:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._kernel._remote("global", name=name)

    def __contains__(self, name: str) -> bool:
        try:
            self._kernel._remote("global", name=name)
        except RemoteError:
            return False
        return True


class Kernel:
    """One runner process, started through ``launcher`` in ``cwd`` with exactly ``env``."""

    def __init__(self, launcher: Launcher, cwd: Path, env: dict[str, str], *, python: str = sys.executable,
                 output_cap: int = 64 * 1024, start_timeout: float = 60.0, handshake: bool = True) -> None:
        self.launcher = launcher
        self.proc = launcher.popen([python, "-m", "course.grader.runner"], cwd=Path(cwd), env=env)
        self.output_bytes = 0
        self._tail: collections.deque[bytes] = collections.deque()
        self._tail_size = 0
        self._cap = output_cap
        self._buffer = b""
        self.dead: str | None = None
        self.ns = _Namespace(self)
        self._drain = threading.Thread(target=self._drain_output, daemon=True, name="runner-output")
        self._drain.start()
        self.info: dict = {}
        if handshake:
            self.handshake(start_timeout)

    def handshake(self, timeout: float = 60.0) -> dict:
        """Wait for the runner to answer. (Start kernels in a long-lived thread: the sandbox ties the runner's
        life to the thread that started it, so only the waiting may happen in a worker thread.)"""
        self.info = self.request("hello", timeout=timeout)
        return self.info

    # -- output --------------------------------------------------------------------------------------
    def _drain_output(self) -> None:
        """Read what the student's code prints, keeping only the last ``output_cap`` bytes."""
        stream = self.proc.stderr
        assert stream is not None
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output_bytes += len(chunk)
            self._tail.append(chunk)
            self._tail_size += len(chunk)
            while self._tail_size > self._cap and len(self._tail) > 1:
                self._tail_size -= len(self._tail.popleft())

    def output_tail(self, n: int = 2000) -> str:
        """The last ``n`` characters the student's code printed."""
        return b"".join(self._tail)[-n:].decode("utf-8", "replace")

    # -- requests ------------------------------------------------------------------------------------
    def _read(self, n: int, deadline: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while len(self._buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, max(65536, n - len(self._buffer)))
            if not chunk:
                raise EOFError
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _die(self, why: str) -> None:
        self.dead = why
        self.launcher.kill()

    def request(self, op: str, *, timeout: float = 60.0, **fields: Any) -> dict:
        """Send one request and wait at most ``timeout`` seconds for its answer."""
        import json
        import struct

        if self.dead:
            raise KernelDied(self.dead)
        body = json.dumps({"op": op, **fields}, allow_nan=False, separators=(",", ":")).encode()
        deadline = time.monotonic() + timeout
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(struct.pack(">Q", len(body)) + body)
            self.proc.stdin.flush()
            (size,) = struct.unpack(">Q", self._read(_HEADER, deadline))
            if size > MAX_MESSAGE:
                raise ProtocolError(f"an answer of {size / 2**20:.0f} MB is over the cap")
            answer = json.loads(self._read(size, deadline))
        except TimeoutError:
            self._die(f"no answer within {timeout:g} s")
            raise KernelTimeout(self.dead) from None
        except (EOFError, BrokenPipeError, ConnectionError, OSError, ValueError, ProtocolError) as exc:
            self.dead = self._death_reason(exc)
            self.launcher.kill()
            raise KernelDied(self.dead) from None
        if not isinstance(answer, dict):
            self._die("malformed answer")
            raise KernelDied(self.dead)
        if not answer.get("ok"):
            error = answer.get("error") or ["Error", ""]
            raise RemoteError(str(error[0]), str(error[1]) if len(error) > 1 else "")
        return answer

    def _death_reason(self, exc: BaseException) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            code = None
        known = self.launcher.post_mortem()
        if known:
            return known
        if code is not None and code > 128:
            code = 128 - code   # a sandbox wrapper reports its child's death by signal N as exit 128 + N
        if code is not None and code < 0:
            import signal

            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the kernel was killed by {name}" + (" (a crash: segmentation fault)" if name == "SIGSEGV" else "")
        if code is not None:
            return f"the kernel exited with code {code}"
        return f"the channel to the kernel broke ({type(exc).__name__})"

    # -- conveniences --------------------------------------------------------------------------------
    def _encode(self, value: Any) -> Any:
        if isinstance(value, Remote):
            if value._kernel is not self:
                raise ValueError("a Remote of another kernel")
            return {"__ref__": value._ref}
        if isinstance(value, (list, tuple)):
            return [self._encode(v) for v in value]
        if isinstance(value, dict):
            return {"__dict__": [[encode(k), self._encode(v)] for k, v in value.items()]}
        return encode(value)

    def _remote(self, op: str, timeout: float | None = None, **fields: Any) -> Remote:
        answer = self.request(op, timeout=timeout or self.call_timeout, **fields)
        return Remote(self, answer["ref"], answer.get("type", "?"))

    call_timeout: float = 120.0

    def module(self, name: str) -> Remote:
        """``import name`` in the runner."""
        return self._remote("import", module=name)

    def value(self, value: Any) -> Remote:
        """Send plain data once, to use it in several calls."""
        return self._remote("value", value=self._encode(value))

    def fetch(self, obj: Remote | Any, *, timeout: float | None = None) -> Any:
        """Bring ``obj`` back as plain data (tensors, numbers, strings, lists, dicts); RemoteError otherwise."""
        if not isinstance(obj, Remote):
            return obj
        answer = self.request("fetch", timeout=timeout or self.call_timeout, ref=obj._ref)
        return decode(answer["value"])

    def run_cell(self, source: str, *, timeout: float) -> tuple[str, str] | None:
        """Run one cell; None when it ran to the end, else (ename, evalue). KernelDied when it killed the runner."""
        error = self.request("run_cell", timeout=timeout, source=source)["error"]
        return None if error is None else (str(error[0]), str(error[1]))

    def close(self) -> None:
        if not self.dead:
            try:
                self.request("bye", timeout=2)
            except (KernelDied, RemoteError):
                pass
        self.dead = self.dead or "closed"
        self.launcher.kill()
