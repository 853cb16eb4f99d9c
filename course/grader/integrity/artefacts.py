"""Identical artefacts: the same checkpoint bytes, the same weights to rounding, the same improbable outputs.

Checkpoints are students' files: they are never unpickled here. A ``torch.save`` file is a zip whose
``<name>/data/<k>`` entries are the tensors' raw storage; the weights are read from those bytes alone (as float32,
what the labs save), so a checkpoint re-saved, renamed or with other metadata still matches. Weights equal to the
reference's are what a correct, seeded run reaches and are not evidence; the report says so instead of flagging.

Outputs: a cell output with several numbers printed to 4 or more significant digits (a loss, an accuracy), that
the same few students share and the released notebook does not hold, is implausible by chance where the lab's
training is random: it is listed, with the cell, as evidence to look at — never as a verdict.
"""
from __future__ import annotations

import hashlib
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "MAX_CHECKPOINT_BYTES",
    "WEIGHT_RTOL",
    "ArtefactMatch",
    "checkpoint_matches",
    "checkpoint_weights",
    "output_matches",
    "precise_numbers",
]

MAX_CHECKPOINT_BYTES = 512 * 2**20      # larger files are hashed, not read as weights
WEIGHT_RTOL = 1e-3                      # "to rounding": every weight within 0.1 % of the largest


@dataclass(frozen=True)
class ArtefactMatch:
    kind: str                    # "checkpoint bytes", "checkpoint weights", "cell output"
    what: str                    # the file or the cell
    students: tuple[str, ...]
    detail: str


def checkpoint_weights(path: Path) -> np.ndarray | None:
    """Every storage of a ``torch.save`` zip, in order, as one float32 vector; None when it is not one."""
    try:
        with zipfile.ZipFile(path) as zf:
            entries = []
            for info in zf.infolist():
                m = re.fullmatch(r"[^/]+/data/(\d+)", info.filename)
                if m:
                    entries.append((int(m[1]), info))
            if not entries or sum(i.file_size for _, i in entries) > MAX_CHECKPOINT_BYTES:
                return None
            blobs = [zf.read(info) for _, info in sorted(entries, key=lambda e: e[0])]
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, NotImplementedError):
        return None
    # Whole float32 storages only; an int64 buffer (a BatchNorm counter) is 8 bytes and is read the same way.
    blobs = [b[: len(b) // 4 * 4] for b in blobs]
    vec = np.nan_to_num(np.frombuffer(b"".join(blobs), dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return vec if vec.size else None


def _same_weights(a: np.ndarray, b: np.ndarray) -> float | None:
    """The largest difference relative to the largest weight, when it is within :data:`WEIGHT_RTOL`; else None."""
    if a.shape != b.shape:
        return None
    scale = float(max(np.abs(a).max(), np.abs(b).max(), 1e-12))
    diff = float(np.abs(a.astype(np.float64) - b).max()) / scale
    return diff if diff <= WEIGHT_RTOL else None


def checkpoint_matches(files: Mapping[str, Mapping[str, Path]],
                       references: Mapping[str, Path] = {}) -> tuple[list[ArtefactMatch], list[str]]:
    """``files[student][name]``: each student's checkpoint files. The matches, and notes (weights equal to the
    reference's)."""
    matches: list[ArtefactMatch] = []
    notes: list[str] = []
    names = sorted({n for per in files.values() for n in per})
    for name in names:
        holders = {s: per[name] for s, per in files.items() if name in per}
        digest_of: dict[str, str] = {}
        by_digest: dict[str, list[str]] = defaultdict(list)
        for student, path in holders.items():
            try:
                digest_of[student] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue
            by_digest[digest_of[student]].append(student)
        ref = references.get(name)
        ref_weights = checkpoint_weights(ref) if ref else None
        for digest, students in by_digest.items():
            if len(students) > 1:
                matches.append(ArtefactMatch("checkpoint bytes", name, tuple(sorted(students)),
                                             f"identical files (sha256 {digest[:12]}…)"))
        weights = {s: w for s, p in holders.items() if (w := checkpoint_weights(p)) is not None}
        # The cheap pass: a random projection keeps distances (Johnson–Lindenstrauss); only near pairs are compared.
        groups: dict[int, list[str]] = defaultdict(list)
        for s, w in weights.items():
            groups[w.size].append(s)
        for size, students in groups.items():
            if len(students) < 2:
                continue
            rng = np.random.default_rng(0)
            proj = rng.standard_normal((size, 16)).astype(np.float32) if size <= 1_000_000 else None
            sketch = {s: (weights[s] @ proj if proj is not None else weights[s][:: max(1, size // 65536)])
                      for s in students}
            for x, s in enumerate(students):
                for t in students[x + 1:]:
                    if s in digest_of and digest_of[s] == digest_of.get(t):
                        continue           # already listed as the same bytes
                    gap = np.linalg.norm(sketch[s] - sketch[t])
                    if gap > 0.05 * max(np.linalg.norm(sketch[s]), 1e-12):
                        continue
                    diff = _same_weights(weights[s], weights[t])
                    if diff is None:
                        continue
                    if ref_weights is not None and _same_weights(weights[s], ref_weights) is not None:
                        notes.append(f"{name}: {s} and {t} hand in the reference's own weights (what a correct, "
                                     "seeded run reaches): not counted as evidence")
                        continue
                    matches.append(ArtefactMatch("checkpoint weights", name, (s, t),
                                                 f"the same weights to rounding (largest difference {diff:.1e} of "
                                                 "the largest weight)"))
    return matches, notes


_NUMBER = re.compile(r"(?<![\w.])[-+]?\d*\.\d+(?:[eE][-+]?\d+)?|(?<![\w.])[-+]?\d+[eE][-+]?\d+")


def precise_numbers(text: str) -> int:
    """How many numbers in ``text`` carry 4 or more significant digits."""
    count = 0
    for m in _NUMBER.finditer(text):
        mantissa = re.split(r"[eE]", m.group().lstrip("+-"))[0].replace(".", "").lstrip("0")
        count += len(mantissa) >= 4
    return count


def output_matches(outputs: Mapping[str, Iterable[tuple[str, str]]], released: set[str], *,
                   min_numbers: int = 3, most: int = 3) -> list[ArtefactMatch]:
    """``outputs[student]``: (cell, text) of each output. Texts with ``min_numbers`` precise numbers that 2 to
    ``most`` students share, and that the released notebook does not print."""
    holders: dict[str, dict[str, str]] = defaultdict(dict)
    for student, items in outputs.items():
        for cell, text in items:
            norm = " ".join(text.split())
            if norm not in released and precise_numbers(norm) >= min_numbers:
                holders[norm].setdefault(student, cell)
    return [ArtefactMatch("cell output", next(iter(who.values())), tuple(sorted(who)),
                          f"the same output, with {precise_numbers(text)} numbers to 4+ digits: {text[:160]}")
            for text, who in holders.items() if 2 <= len(who) <= most]
