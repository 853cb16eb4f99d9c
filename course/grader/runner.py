"""The process that runs student code, inside the sandbox: ``python -m course.grader.runner``.

It reads requests from stdin and answers on stdout (see :mod:`course.grader.protocol`); everything the
student's code prints, at the Python or the file-descriptor level, goes to stderr, which the grader drains
and caps. Requests are operations, not code: run a notebook cell of the submission, look up a name, import
a module, get an attribute, call, fetch a result as plain data. The judge's expected values and its test
code never come here: only the inputs it chooses to pass.

Cells run through IPython's ``InteractiveShell`` when IPython is installed (as in a Jupyter kernel: magics,
input transformers, ``!`` shell lines), else through ``exec``.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from .protocol import Ref, decode, encode, receive, send
from .sandbox.inside import prepare

__all__ = ["Runner", "main"]


class Runner:
    """The operations a request may ask for; the objects they made, by reference."""

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}
        self.shell = None
        try:
            from IPython.core.interactiveshell import InteractiveShell

            self.shell = InteractiveShell.instance(colors="NoColor")
            self.ns = self.shell.user_ns
        except Exception:  # noqa: BLE001 - no IPython: plain exec
            self.ns = {"__name__": "__main__", "__builtins__": __builtins__}

    # -- object table ------------------------------------------------------------------------------
    def ref(self, obj: Any) -> dict:
        key = len(self.objects) + 1
        self.objects[key] = obj
        return {"ref": key, "type": type(obj).__qualname__}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            if int(value) not in self.objects:
                raise KeyError(f"no object {int(value)} on the runner")
            return self.objects[int(value)]
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    # -- operations --------------------------------------------------------------------------------
    def op_hello(self, msg: dict) -> dict:
        return {"pid": os.getpid(), "uid": os.getuid() if hasattr(os, "getuid") else None,
                "python": sys.version.split()[0], "ipython": self.shell is not None}

    def op_run_cell(self, msg: dict) -> dict:
        source = msg["source"]
        if self.shell is not None:
            result = self.shell.run_cell(source, store_history=False)
            err = result.error_before_exec or result.error_in_exec
        else:
            err = None
            try:
                exec(compile(source, "<cell>", "exec"), self.ns)  # noqa: S102 - running the cell is the point
            except BaseException as exc:  # noqa: BLE001
                traceback.print_exc()
                err = exc
        _close_figures()
        if err is None:
            return {"error": None}
        return {"error": [type(err).__name__, _first_line(err)]}

    def op_global(self, msg: dict) -> dict:
        name = msg["name"]
        if name not in self.ns:
            raise NameError(f"name {name!r} is not defined")
        return self.ref(self.ns[name])

    def op_import(self, msg: dict) -> dict:
        import importlib

        return self.ref(importlib.import_module(msg["module"]))

    def op_getattr(self, msg: dict) -> dict:
        return self.ref(getattr(self.objects[msg["ref"]], msg["name"]))

    def op_call(self, msg: dict) -> dict:
        fn = self.objects[msg["ref"]]
        args = self.resolve(decode(msg.get("args", [])))
        kwargs = self.resolve(decode(msg.get("kwargs", {})))
        return self.ref(fn(*args, **kwargs))

    def op_value(self, msg: dict) -> dict:
        return self.ref(self.resolve(decode(msg["value"])))

    def op_fetch(self, msg: dict) -> dict:
        return {"value": encode(self.objects[msg["ref"]])}

    def op_release(self, msg: dict) -> dict:
        for key in msg.get("refs", []):
            self.objects.pop(key, None)
        return {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:2000] if text else ""


def _close_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:  # noqa: BLE001
            pass


def main() -> None:
    # First of all, inside the sandbox: its resource limits, the submission copied into the writable tmpfs.
    prepare()
    # The channel: private copies of stdin/stdout. The student's code gets /dev/null as stdin, and its
    # stdout joins stderr, so nothing it prints can be mistaken for an answer.
    rpc_in = os.fdopen(os.dup(0), "rb")
    rpc_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    runner = Runner()
    while True:
        try:
            msg = receive(rpc_in)
        except EOFError:
            return
        if msg.get("op") == "bye":
            send(rpc_out, {"ok": True})
            return
        op = getattr(runner, f"op_{msg.get('op')}", None)
        if op is None:
            send(rpc_out, {"ok": False, "error": ["ProtocolError", f"unknown op {msg.get('op')!r}"]})
            continue
        try:
            answer = {"ok": True, **op(msg)}
        except BaseException as exc:  # noqa: BLE001 - the student's exception is the answer
            sys.stdout.flush()
            answer = {"ok": False, "error": [type(exc).__name__, _first_line(exc)]}
        try:
            send(rpc_out, answer)
        except Exception as exc:  # noqa: BLE001 - e.g. a result too large to send
            send(rpc_out, {"ok": False, "error": [type(exc).__name__, _first_line(exc)]})


if __name__ == "__main__":
    main()
