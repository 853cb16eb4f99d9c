"""Names that come from outside (student folders, file names in an LMS export): shown and stored safely."""
from __future__ import annotations

import hashlib
import os
import re

__all__ = ["printable_name", "safe_name"]


def printable_name(raw: bytes | str) -> str:
    """A one-line, printable and reversible form of a folder name: undecodable bytes as ``\\xNN``,
    unprintable characters as ``\\uNNNN``, a backslash doubled (so that no two names look alike)."""
    text = os.fsdecode(raw) if isinstance(raw, bytes) else raw
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:                       # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif not ch.isprintable() or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def safe_name(raw: bytes | str) -> str:
    """A file name for ``raw`` that any file system takes: a short ASCII slug plus a sha256 prefix of the bytes."""
    raw = os.fsencode(raw)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", printable_name(raw))[:40].strip("._-") or "x"
    return f"{slug}-{hashlib.sha256(raw).hexdigest()[:10]}"
