"""Real LHEO files, damaged: an import never crashes, it reports what it kept, what it refused and why.

The shipped LHEO 2.3 and 2.2 samples are cut short, lose elements, get odd text (empty, huge, markup,
impossible dates and numbers) or flipped bytes. Every session the import keeps must make an event that
the broker accepts; a file that breaks is reported with its line and withdraws nothing.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from tdu_dev.testing.mutations import mutated_xml
from tdu_shared.contracts.trainings import SessionPublished
from tdu_shared.envelope import encode, new_envelope
from trainings.domain.model import Session
from trainings.handlers import DryRun
from trainings.importer import reference, run_import
from trainings.translate import to_state

FIXTURES = Path(__file__).parents[1] / "fixtures"
REF = reference()
HYPOTHESIS = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


class Encoding(DryRun):
    """Stores nothing, but builds the event of every session kept, as the real sink does."""

    async def accept(self, sessions: Sequence[Session]) -> None:
        for session in sessions:
            event = SessionPublished(session=to_state(session, 1))
            assert encode(new_envelope(event, producer="trainings", region="44", basin=session.basin))


def imports(data: bytes) -> None:
    report = asyncio.run(run_import(io.BytesIO(data), "cr", Encoding(), ref=REF))
    if report.complete:
        assert report.error is None
    else:  # broken: says where, withdraws nothing
        assert report.error and report.withdrawn == 0
    assert report.rejected == sum(report.reasons.values())


@HYPOTHESIS
@given(mutated_xml((FIXTURES / "dirty-lheo23.xml").read_bytes()))
def test_a_damaged_lheo_23_file_is_imported_or_reported(data: bytes) -> None:
    imports(data)


@HYPOTHESIS
@given(mutated_xml((FIXTURES / "exemple-bts-onisep-lheo22.xml").read_bytes()))
def test_a_damaged_lheo_22_file_is_imported_or_reported(data: bytes) -> None:
    imports(data)
