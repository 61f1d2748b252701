"""ROME 4: keep the offer's code and the fiche it rolls up to."""

from __future__ import annotations

from typing import Protocol

from offers.domain.model import Rome


class RomeLookup(Protocol):
    def fiche_and_label(self, code: str) -> tuple[str, str] | None: ...


def resolve_rome(code: str | None, label: str | None, referential: RomeLookup) -> tuple[Rome, list[str]]:
    """The code as given, its parent fiche, and notes ('rome_rolled_up', 'rome_unknown', 'rome_missing')."""
    if not code:
        return Rome(None, None, label), ["rome_missing"]
    code = code.strip().upper()
    known = referential.fiche_and_label(code)
    if known is None:
        return Rome(code, None, label), ["rome_unknown"]
    fiche, ref_label = known
    notes = ["rome_rolled_up"] if fiche != code else []
    return Rome(code, fiche, label or ref_label), notes
