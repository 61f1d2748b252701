"""What an import did: counts of the file, rejections with their reasons, where it broke."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from trainings.domain.model import FormationRecord, Rejection, Session, Violation
from trainings.domain.normalise import Reference, normalise


@dataclass(frozen=True)
class FormationResult:
    """A formation after normalisation: its line, its actions and each session or its rejection."""

    line: int
    actions: int
    results: tuple[Session | Rejection, ...]


def normalised(records: Iterator[FormationRecord], source: str, ref: Reference) -> Iterator[FormationResult]:
    for record in records:
        yield FormationResult(
            record.line, record.actions, tuple(normalise(raw, source, ref) for raw in record.sessions)
        )


@dataclass
class ImportReport:
    source: str
    formations: int = 0
    actions: int = 0
    sessions: int = 0
    funded_sessions: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    complete: bool = False
    error: str | None = None
    error_line: int | None = None
    published: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    violations: list[Violation] = field(default_factory=list)
    violation_count: int = 0
    validated: bool = False

    def count_formation(self, formation: FormationResult) -> None:
        self.formations += 1
        self.actions += formation.actions

    def count_session(self, session: Session) -> None:
        self.sessions += 1
        self.funded_sessions += session.region_funded

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        self.reasons[rejection.reason] += 1

    def dry_run_summary(self) -> dict[str, Any]:
        """The counts of the file: what ``trainings import --dry-run --json`` prints."""
        summary: dict[str, Any] = {
            "source": self.source,
            "formations": self.formations,
            "actions": self.actions,
            "sessions": self.sessions,
            "funded_sessions": self.funded_sessions,
            "rejected": self.rejected,
            "reasons": dict(sorted(self.reasons.items())),
            "complete": self.complete,
        }
        if self.error:
            summary["error"] = {"message": self.error, "line": self.error_line}
        if self.validated:
            summary["violations"] = {
                "count": self.violation_count,
                "first": [{"line": v.line, "message": v.message} for v in self.violations],
            }
        return summary

    def summary(self) -> dict[str, Any]:
        """The counts of the file and what the import changed in the catalogue."""
        return {
            **self.dry_run_summary(),
            "published": self.published,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "withdrawn": self.withdrawn,
        }
