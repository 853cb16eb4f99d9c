"""The sandbox's caps in bytes and tasks: their defaults' units, the settings an instructor may change, and how
they are written."""
from __future__ import annotations

import os

__all__ = ["GiB", "MiB", "parse_size", "limits_from_env", "size_text"]

GiB = 1 << 30
MiB = 1 << 20


def parse_size(text: str) -> int:
    """'1G', '512M', '300k' or a number of bytes."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 1G, 512M, or bytes)") from None
    if value <= 0:
        raise ValueError(f"a size must be positive: {text!r}")
    return value


def limits_from_env() -> dict[str, int]:
    """The caps an instructor may set: COURSE_MEMORY_LIMIT, COURSE_SCRATCH_LIMIT, COURSE_SHM_LIMIT, COURSE_PIDS_LIMIT."""
    out: dict[str, int] = {}
    for key, name in (("memory_limit", "COURSE_MEMORY_LIMIT"), ("scratch_limit", "COURSE_SCRATCH_LIMIT"),
                      ("shm_limit", "COURSE_SHM_LIMIT")):
        if os.environ.get(name):
            out[key] = parse_size(os.environ[name])
    if os.environ.get("COURSE_PIDS_LIMIT"):
        out["pids_limit"] = int(os.environ["COURSE_PIDS_LIMIT"])
    return out


def size_text(n: int) -> str:
    """1073741824 -> '1 GiB', 268435456 -> '256 MiB'."""
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"
