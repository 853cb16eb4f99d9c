"""Grades on disk: one JSON file per submission, written atomically the moment the result is known.

``<results_dir>/<lab>/<safe student>.json`` holds ``{"format": 1, "result": SubmissionResult.as_dict(), ...}``.
A file is written to a temporary name in the same folder, flushed to disk, then renamed over the old one, so a
reader (or a batch killed with ``kill -9``) only ever sees the old file or the new one, never half of one.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import course

from ..checkout import solution_digest
from .results import SubmissionResult

__all__ = ["FORMAT", "StoredResult", "atomic_write", "result_path", "write_result", "read_result",
           "load_results", "needs_grading", "mark_exported", "remove_stale_temporaries"]

FORMAT = 1
_TMP_SUFFIX = ".tmp"


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` so that it is either fully there or not changed: tmp file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):   # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def result_path(results_dir: Path, lab_folder: str, safe_student: str) -> Path:
    """Where the result of one student's lab is stored."""
    return Path(results_dir) / lab_folder / f"{safe_student}.json"


@dataclass
class StoredResult:
    """A stored result with its bookkeeping: was it written to the gradebook; what graded it."""

    result: SubmissionResult
    exported: bool = False
    grader_key: str = ""
    transient: bool = False     # not the submission's fault (a cluster worker lost it): graded again next run


def write_result(path: Path, result: SubmissionResult, *, exported: bool = False, grader_key: str = "",
                 transient: bool = False) -> Path:
    """Store ``result`` at ``path`` atomically; a ``transient`` one is regraded by the next batch."""
    doc: dict[str, Any] = {"format": FORMAT, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           "exported": exported, "grader_key": grader_key, "result": result.as_dict()}
    if transient:
        doc["transient"] = True
    return atomic_write(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


def read_result(path: Path) -> StoredResult:
    """Read one stored result; ``ValueError`` (with the reason) when it is unreadable or not a result."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("result"), dict):
        raise ValueError(f"{path}: not a stored grading result (format {FORMAT})")
    try:
        result = SubmissionResult.from_dict(doc["result"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: a damaged grading result ({exc})") from exc
    return StoredResult(result, bool(doc.get("exported")), str(doc.get("grader_key") or ""),
                        bool(doc.get("transient")))


def load_results(results_dir: Path) -> tuple[list[SubmissionResult], list[str]]:
    """Every stored result under ``results_dir`` (``*/*.json``), and one line per file that could not be read."""
    results: list[SubmissionResult] = []
    problems: list[str] = []
    root = Path(results_dir)
    if not root.is_dir():
        return results, problems
    for path in sorted(root.glob("*/*.json")):
        if path.name.startswith("."):
            continue
        try:
            results.append(read_result(path).result)
        except ValueError as exc:
            problems.append(str(exc))
    return results, problems


def needs_grading(path: Path, digest: str, force: bool = False, *, grader_key: str | None = None) -> bool:
    """Whether a submission must be (re)graded: forced, never graded, changed since, graded by another grader,
    or not graded for a reason of the grader's own (a transient result).

    ``grader_key`` fingerprints the grader (solution and judges of the lab); a result stored under another key is
    regraded, so fixing a judge regrades everyone. A result that cannot be read is regraded.
    """
    if force or not digest:
        return True
    try:
        stored = read_result(path)
    except ValueError:
        return True
    if stored.result.digest != digest or stored.transient:
        return True
    return grader_key is not None and stored.grader_key != grader_key


def mark_exported(path: Path) -> None:
    """Note in a stored result that the gradebook and the autograded notebook have it."""
    stored = read_result(path)
    if not stored.exported:
        write_result(path, stored.result, exported=True, grader_key=stored.grader_key)


def remove_stale_temporaries(results_dir: Path) -> int:
    """Remove temporary files left by a writer that was killed (its process is gone); how many were removed."""
    removed = 0
    for tmp in Path(results_dir).glob(f"*/.*{_TMP_SUFFIX}"):
        parts = tmp.name.rsplit(".", 3)          # ".<name>.<pid>.<random>.tmp" -> [..., pid, random, "tmp"]
        try:
            pid = int(parts[-3])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def grader_key(root: Path, lab: str, *, package: Path | None = None) -> str:
    """Fingerprint of everything that decides ``lab``'s grades: a change regrades everyone.

    The solution's cells, the released notebook (it says which cells are tests), every judge file and shared judge
    helper in ``autograder/judges/``, the lab's recorded reference results, and the ``course`` package itself (the
    engine, the runner, the sandbox, and the helpers the judges call in the runner).
    """
    root = Path(root)
    h = hashlib.sha256(solution_digest(root, lab).encode())
    released = root / "notebooks" / lab / f"{lab}.ipynb"
    files = [released, root / "autograder" / "references" / f"{lab}.json"]
    judges = root / "autograder" / "judges"
    files += [judges / f"{lab}.py"]        # absent or not, it is part of the key
    files += sorted(p for p in judges.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    package = Path(package or Path(course.__file__).resolve().parent)
    files += sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    for path in files:
        h.update(str(path.relative_to(package.parent if path.is_relative_to(package) else root)).encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"<absent>")
        h.update(b"\0")
    return h.hexdigest()[:16]
