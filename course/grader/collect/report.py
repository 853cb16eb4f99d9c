"""What a collect did: :class:`CollectReport`, its counts, the summary printed and ``DIR/collect_report.json``."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Matched", "Unmatched", "Superseded", "CollectReport", "REPORT_NAME"]

REPORT_NAME = "collect_report.json"
_LIST_LIMIT = 50            # lines of one list printed by the summary; the JSON report has them all


@dataclass
class Matched:
    """One ``<student>/<lab>/`` written (or left alone): ``files`` maps its file names to where they came from."""

    student: str            # the folder name under DIR
    export_name: str        # the name as the export spells it
    lab: str
    folder: str
    files: dict[str, str]
    status: str             # "written", "replaced", "kept" (already in DIR; --force replaces it) or "failed"


@dataclass
class Unmatched:
    """A file of the export that is in no ``<student>/<lab>/``, and why (so that no hand-in goes missing unseen)."""

    path: str
    reason: str


@dataclass
class Superseded:
    """An older candidate for a file of a submission (a re-submission, a second notebook): not collected."""

    student: str
    lab: str
    file: str
    path: str
    kept: str               # the candidate collected instead
    reason: str             # "a higher re-submission number" or "newer"


@dataclass
class CollectReport:
    """What :func:`collect` did; paths are shown relative to SOURCE (a zip's entries after the zip's name)."""

    source: str
    out: str
    labs: list[str]
    matched: list[Matched] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)
    superseded: list[Superseded] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The numbers an instructor checks first: submissions written or kept, files left out, problems."""
        status = [m.status for m in self.matched]
        return {"students": len({m.student for m in self.matched}), "submissions": len(self.matched),
                "written": status.count("written") + status.count("replaced"), "kept": status.count("kept"),
                "failed": status.count("failed"), "unmatched": len(self.unmatched),
                "superseded": len(self.superseded), "problems": sum(map(len, self.problems.values()))}

    def to_json(self) -> dict:
        """What ``DIR/collect_report.json`` holds: the counts, then every list in full."""
        return {"source": self.source, "out": self.out, "labs": self.labs, "counts": self.counts(),
                **{k: v for k, v in asdict(self).items() if k not in ("source", "out", "labs")}}

    def summary(self) -> str:
        """Counts first, then what did not make it and why: what an instructor reads after a collect."""
        c = self.counts()
        lines = [f"collect: {c['submissions']} submissions of {c['students']} students in {self.out} "
                 f"({c['written']} written, {c['kept']} kept as they were, {c['failed']} failed); "
                 f"{c['unmatched']} files unmatched, {c['superseded']} superseded, {c['problems']} problems"]

        def section(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  - {item}" for item in items[:_LIST_LIMIT])
                if len(items) > _LIST_LIMIT:
                    lines.append(f"  ... and {len(items) - _LIST_LIMIT} more (see {REPORT_NAME})")
        section("unmatched", [f"{u.path}: {u.reason}" for u in self.unmatched])
        section("superseded", [f"{s.path}: superseded by {s.kept} ({s.reason}) as {s.student}/{s.lab}/{s.file}"
                               for s in self.superseded])
        section("problems", [f"{where}: {p}" for where, ps in self.problems.items() for p in ps])
        section("already in DIR, left alone (--force replaces them)",
                [m.folder for m in self.matched if m.status == "kept"])
        return "\n".join(lines)
