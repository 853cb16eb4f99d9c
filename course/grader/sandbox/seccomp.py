"""A seccomp filter for the sandbox, written as classic BPF by hand (no libseccomp needed).

It makes the calls that would create a **user namespace** fail with EPERM (``unshare`` and ``clone`` with
``CLONE_NEWUSER``; ``clone3``, whose flags live in memory a filter cannot read, fails with ENOSYS so that the C
library falls back to ``clone``), and refuses a handful of calls that only widen the kernel's attack surface for
code like ours (keyrings, BPF, perf events, userfaultfd, io_uring, module and kexec loading, ptrace, setns).
Another architecture's calling convention (i386 ``int 0x80`` on x86-64, the x32 ABI) ends the process.

:func:`program` returns the filter as bytes, the form bubblewrap's ``--seccomp FD`` reads; ``None`` on an
architecture this table does not know.
"""
from __future__ import annotations

import errno
import platform
import struct

__all__ = ["program", "CLONE_NEWUSER", "supported"]

CLONE_NEWUSER = 0x10000000

_LD_ABS_W = 0x20          # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15               # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35               # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45              # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06               # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_X32_BIT = 0x40000000


def _errno(code: int) -> int:
    return 0x00050000 | code


# seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]  (args[0]'s low word at 16 on little endian)
_NR, _ARCH, _ARG0_LOW = 0, 4, 16

# (audit arch, {name: number}) per machine; the same names on every architecture.
_TABLES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (0xC000003E, {
        "clone": 56, "unshare": 272, "clone3": 435, "setns": 308, "keyctl": 250, "add_key": 248,
        "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "kexec_load": 246,
        "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "ptrace": 101}),
    "aarch64": (0xC00000B7, {
        "clone": 220, "unshare": 97, "clone3": 435, "setns": 268, "keyctl": 219, "add_key": 217,
        "request_key": 218, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "kexec_load": 104,
        "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "ptrace": 117}),
}
_DENIED = ("setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load",
           "kexec_file_load", "init_module", "finit_module", "delete_module", "io_uring_setup", "io_uring_enter",
           "io_uring_register", "ptrace")


def _machine() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


def supported(machine: str | None = None) -> bool:
    return (machine or _machine()) in _TABLES


def program(machine: str | None = None) -> bytes | None:
    """The filter for ``machine`` (default: this one) as an array of ``struct sock_filter``, or None."""
    machine = machine or _machine()
    if machine not in _TABLES:
        return None
    arch, nr = _TABLES[machine]
    ins: list[tuple[int, int, int, int]] = []
    ret_allow = ("ret", _ALLOW)

    # Labels are resolved below: jumps are relative to the next instruction, forward only.
    code: list = [
        ("ld", _ARCH), ("jeq", arch, None, "kill"),
        ("ld", _NR),
    ]
    if machine == "x86_64":
        code += [("jge", _X32_BIT, "kill", None)]
    code += [("jeq", nr["unshare"], "flags", None), ("jeq", nr["clone"], "flags", None),
             ("jeq", nr["clone3"], "enosys", None)]
    code += [("jeq", nr[name], "eperm", None) for name in _DENIED]
    code += [ret_allow,
             ("label", "flags"), ("ld", _ARG0_LOW), ("jset", CLONE_NEWUSER, "eperm", None), ret_allow,
             ("label", "eperm"), ("ret", _errno(errno.EPERM)),
             ("label", "enosys"), ("ret", _errno(errno.ENOSYS)),
             ("label", "kill"), ("ret", _KILL_PROCESS)]
    labels: dict[str, int] = {}
    pos = 0
    for item in code:
        if item[0] == "label":
            labels[item[1]] = pos
        else:
            pos += 1
    pos = 0
    for item in code:
        kind = item[0]
        if kind == "label":
            continue
        if kind == "ld":
            ins.append((_LD_ABS_W, 0, 0, item[1]))
        elif kind == "ret":
            ins.append((_RET, 0, 0, item[1]))
        else:
            op = {"jeq": _JEQ, "jge": _JGE, "jset": _JSET}[kind]
            # (kind, k, jump-if-true label or None = next, jump-if-false label or None = next)
            jt = labels[item[2]] - pos - 1 if item[2] else 0
            jf = labels[item[3]] - pos - 1 if item[3] else 0
            if not (0 <= jt < 256 and 0 <= jf < 256):       # pragma: no cover - the table is small
                raise ValueError("seccomp jump out of range")
            ins.append((op, jt, jf, item[1]))
        pos += 1
    return b"".join(struct.pack("<HBBI", *i) for i in ins)
