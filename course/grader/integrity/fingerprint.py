"""Fingerprints of code that survive renaming, reordering, comments and whitespace (winnowing, Schleimer et al. 2003).

Code becomes a stream of normalised tokens: names a student chooses become ``V``, literals ``N`` and ``S``;
keywords, operators, attribute names (``.reshape``) and the names of libraries and built-ins stay, because they
are what a solution *does*. Every run of ``K`` consecutive tokens (a k-gram) is hashed with a stable hash (the
same in every process, unlike Python's ``hash``), and winnowing keeps the smallest hash of every window of ``W``
k-grams: any passage of at least ``K + W - 1`` tokens shared by two answers shares a kept fingerprint, which is
what the cheap first pass over all pairs looks for. Reordered functions keep their k-grams; only the few that
straddle a boundary change.
"""
from __future__ import annotations

import builtins
import functools
import hashlib
import keyword
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Code", "K", "Token", "W", "kgram_hashes", "tokens", "winnow"]

K = 12          # tokens per k-gram: shorter matches are noise (idioms every solution shares)
W = 8           # winnowing window: every shared passage of K + W - 1 = 19 tokens or more is seen

# Names that are the same in every student's code: libraries, their usual aliases, built-ins.
_KEPT = frozenset(dir(builtins)) | frozenset({
    "torch", "nn", "F", "np", "numpy", "math", "plt", "optim", "course", "self", "cls", "super", "functional",
    "torchvision", "random", "itertools", "functools", "time", "tqdm"})
_TOKEN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>[rRbBuUfF]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<number>(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*=?|//=?|->|:=|<<=?|>>=?|[-+*/%@&|^<>=!]=|[-+*/%@&|^~<>=.,:;()\[\]{}])
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    text: str       # the normalised token
    line: int       # 0-based line of the code it starts on


@dataclass(frozen=True)
class Code:
    """One student's answer code: its lines, and where each came from (``(cell number, line in cell)``)."""

    lines: tuple[str, ...]
    origin: tuple[tuple[int, int], ...]

    @classmethod
    def of_cells(cls, cells: Iterable[tuple[int, str]]) -> Code:
        lines: list[str] = []
        origin: list[tuple[int, int]] = []
        for number, source in cells:
            for i, line in enumerate(source.splitlines()):
                lines.append(line)
                origin.append((number, i))
        return cls(tuple(lines), tuple(origin))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def tokens(code: str) -> list[Token]:
    """The normalised tokens of ``code`` (any text: code that does not parse is tokenised all the same).

    IPython lines (``%magic``, ``!shell``) are kept as they are written, as one token, since they are not Python.
    """
    out: list[Token] = []
    line = 0
    previous = ""
    for m in _TOKEN.finditer(code):
        kind, text = m.lastgroup, m.group()
        start_line = line
        line += text.count("\n")
        if kind in ("space", "comment"):
            continue
        if kind == "string":
            # A docstring or a message is prose; its wording is not the answer's structure.
            norm = "S"
        elif kind == "number":
            norm = "N"
        elif kind == "name":
            norm = text if (keyword.iskeyword(text) or text in _KEPT or previous == ".") else "V"
        else:
            norm = text
        out.append(Token(norm, start_line))
        previous = text
    return out


_BASE = np.uint64(1_000_003)


@functools.lru_cache(maxsize=65536)
def _token_id(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def kgram_hashes(toks: Sequence[Token], k: int = K) -> list[int]:
    """The stable hash of every k-gram, in order (``len(toks) - k + 1`` of them; none for shorter code): a
    polynomial over the tokens' own stable hashes, modulo 2⁶⁴, computed for all k-grams at once."""
    ids = np.fromiter((_token_id(t.text) for t in toks), dtype=np.uint64, count=len(toks))
    m = len(ids) - k + 1
    if m <= 0:
        return []
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _BASE + ids[j:j + m]
    return h.tolist()


def winnow(hashes: Sequence[int], w: int = W) -> set[int]:
    """Winnowing: the minimum hash of every window of ``w`` consecutive hashes (all of them when fewer)."""
    if len(hashes) <= w:
        return set(hashes)
    return {min(hashes[i:i + w]) for i in range(len(hashes) - w + 1)}
