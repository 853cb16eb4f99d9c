"""Which students' answers are alike: every pair of a lab's class, ranked, with the passages they share.

What does not count, as in MOSS and Dolos: the released notebook's code (the stubs, the plain cells every student
runs), and passages that many students share (``common_limit``: an idiom or a hint of the text, not a copy). The
cheap first pass looks only at pairs that share a winnowed fingerprint, through an index of who holds which;
each such pair is then measured on all its k-grams: the share of each answer's own tokens that the other answer
also has (``coverage``), and the passages behind it.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .fingerprint import Code, K, kgram_hashes, tokens, winnow

__all__ = ["MIN_TOKENS", "THRESHOLD", "Answer", "Pair", "Passage", "answer", "common_limit", "similar_pairs"]

THRESHOLD = 0.7     # mean coverage at which a pair is flagged (measured: see benchmarks/similarity.py)
MIN_TOKENS = 40     # ... and at least this many shared tokens on each side: short answers are alike by nature
SHOWN = 10          # the most alike pairs below the threshold are measured too, for context


@dataclass
class Answer:
    """One student's answer code for one lab, tokenised."""

    student: str
    code: Code
    token_lines: list[int]        # the line of each token
    hashes: np.ndarray            # the hash of the k-gram starting at each token (uint64)
    own: np.ndarray               # its distinct hashes that count (not in the released notebook), sorted


def answer(student: str, code: Code, released: set[int]) -> Answer:
    toks = tokens(code.text)
    hashes = np.array(kgram_hashes(toks), dtype=np.uint64)
    own = np.setdiff1d(hashes, np.fromiter(released, dtype=np.uint64, count=len(released)))
    return Answer(student, code, [t.line for t in toks], hashes, own)


@dataclass(frozen=True)
class Passage:
    """A shared passage: the lines (0-based, inclusive) of it in each answer's code, and its length in tokens."""

    a_lines: tuple[int, int]
    b_lines: tuple[int, int]
    tokens: int


@dataclass
class Pair:
    a: str
    b: str
    coverage_a: float            # share of a's own tokens that b also has
    coverage_b: float
    shared_tokens: int           # the smaller side's count of shared tokens
    passages: list[Passage]
    flagged: bool = False
    exact: bool = True           # False: the first pass's estimate, far below the threshold, not measured

    @property
    def score(self) -> float:
        return (self.coverage_a + self.coverage_b) / 2


def common_limit(students: int) -> int:
    """A passage held by more than this many students is common (MOSS's ``-m`` is 10): at least 10, or 5 %."""
    return max(10, math.ceil(0.05 * students))


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin`` for a sorted set, without sorting ``values``."""
    if not sorted_set.size:
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(sorted_set, values).clip(max=len(sorted_set) - 1)
    return sorted_set[at] == values


def _covered(ans: Answer, counted: np.ndarray) -> np.ndarray:
    """For each token: is it inside a k-gram whose hash is in ``counted`` (sorted)?"""
    n = len(ans.token_lines)
    hit = _member(ans.hashes, counted)
    starts = np.concatenate([[0], np.cumsum(hit)])          # starts[i]: k-grams in counted among the first i
    i = np.arange(n)
    # Token i lies in the k-grams starting at max(0, i-K+1) .. min(i, last).
    hi = np.minimum(i + 1, len(hit))
    lo = np.minimum(np.maximum(0, i - K + 1), hi)
    return (starts[hi] - starts[lo]) > 0


def _runs(cover: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], cover.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def _passages(a: Answer, b: Answer, shared: np.ndarray, cover_a: np.ndarray, cover_b: np.ndarray) -> list[Passage]:
    where_b: dict[int, int] = {}
    in_shared_b = _member(b.hashes, shared)
    for j in np.flatnonzero(in_shared_b).tolist():
        where_b.setdefault(int(b.hashes[j]), j)
    in_shared_a = _member(a.hashes, shared)
    runs_b = _runs(cover_b)
    out: list[Passage] = []
    for start, end in _runs(cover_a):
        firsts = np.flatnonzero(in_shared_a[start:min(end + 1, len(a.hashes))])
        if not firsts.size:
            continue
        j = where_b[int(a.hashes[start + firsts[0]])]
        b_start, b_end = next(((s, e) for s, e in runs_b if s <= j <= e), (j, j + K - 1))
        out.append(Passage((a.token_lines[start], a.token_lines[end]),
                           (b.token_lines[b_start], b.token_lines[min(b_end, len(b.token_lines) - 1)]),
                           end - start + 1))
    return sorted(out, key=lambda p: -p.tokens)


def _measure(a: Answer, b: Answer, counted_a: np.ndarray, counted_b: np.ndarray, own_a: int, own_b: int,
             passages: bool) -> Pair:
    shared = np.intersect1d(counted_a, counted_b, assume_unique=True)
    cover_a, cover_b = _covered(a, shared), _covered(b, shared)
    n_a, n_b = int(cover_a.sum()), int(cover_b.sum())
    return Pair(a.student, b.student, n_a / own_a if own_a else 0.0, n_b / own_b if own_b else 0.0,
                min(n_a, n_b), _passages(a, b, shared, cover_a, cover_b) if passages else [])


def similar_pairs(answers: Sequence[Answer], *, threshold: float = THRESHOLD, min_tokens: int = MIN_TOKENS,
                  common: int | None = None) -> list[Pair]:
    """Every pair of ``answers`` that shares a passage that counts, the most alike first; ``flagged`` where the
    mean coverage reaches ``threshold`` and both sides share at least ``min_tokens`` tokens."""
    limit = common_limit(len(answers)) if common is None else common
    holders = Counter(h for ans in answers for h in ans.own.tolist())
    common_hashes = np.array(sorted(h for h, n in holders.items() if n > limit), dtype=np.uint64)
    counted = [np.setdiff1d(ans.own, common_hashes, assume_unique=True) for ans in answers]
    own = [int(_covered(ans, c).sum()) for ans, c in zip(answers, counted)]
    # The cheap pass: an index of the kept (winnowed) fingerprints, and how many each pair shares. No list is
    # longer than the common limit, so the pairs it yields stay few even in a large class. A pair's share of
    # fingerprints estimates its coverage; pairs far below the threshold keep the estimate, the rest are measured.
    index: dict[int, list[int]] = {}
    kept = []
    for i, ans in enumerate(answers):
        fps = winnow(ans.hashes.tolist())
        mine = np.intersect1d(np.fromiter(fps, dtype=np.uint64, count=len(fps)), counted[i])
        kept.append(len(mine))
        for h in mine.tolist():
            index.setdefault(h, []).append(i)
    shared = Counter((i, j) for who in index.values() for x, i in enumerate(who) for j in who[x + 1:])
    estimate = {ij: (n / kept[ij[0]] + n / kept[ij[1]]) / 2 for ij, n in shared.items()}
    context = set(sorted(estimate, key=lambda ij: -estimate[ij])[:SHOWN])
    pairs = []
    for (i, j), guess in sorted(estimate.items()):
        if guess < threshold / 2 and (i, j) not in context:
            pairs.append(Pair(answers[i].student, answers[j].student, guess, guess, 0, [], exact=False))
            continue
        pair = _measure(answers[i], answers[j], counted[i], counted[j], own[i], own[j], passages=False)
        pair.flagged = pair.score >= threshold and pair.shared_tokens >= min_tokens
        if pair.flagged:
            pair.passages = _measure(answers[i], answers[j], counted[i], counted[j], own[i], own[j],
                                     passages=True).passages
        pairs.append(pair)
    return sorted(pairs, key=lambda p: (-p.score, -p.shared_tokens, p.a, p.b))
