"""ROME 4 referential: derived codes roll up to their parent fiche (M1854 -> M1801)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

ROME_CODE = re.compile(r"^[A-N]\d{4}$")


@dataclass(frozen=True)
class RomeCode:
    code: str
    fiche: str
    label: str


class RomeReferential:
    def __init__(self, codes: dict[str, RomeCode]) -> None:
        self._codes = codes

    def __len__(self) -> int:
        return len(self._codes)

    def get(self, code: str | None) -> RomeCode | None:
        if not code:
            return None
        return self._codes.get(code.strip().upper())

    def fiche_of(self, code: str | None) -> str | None:
        """The parent fiche of a ROME code; None when the code is unknown to the referential."""
        known = self.get(code)
        return known.fiche if known else None

    def codes(self) -> list[RomeCode]:
        """Every code, fiches and the codes derived from them."""
        return list(self._codes.values())

    def fiches(self) -> set[str]:
        return {c.fiche for c in self._codes.values()}


@cache
def rome_referential() -> RomeReferential:
    text = files("tdu_shared.data").joinpath("rome4_v460_codes.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return RomeReferential(
        {r["code_rome"]: RomeCode(r["code_rome"], r["code_rome_parent"], r["libelle_rome"]) for r in rows}
    )


@cache
def grands_domaines() -> dict[str, str]:
    """ROME grands domaines, letter -> French label (France Travail's referential, ``unix_grand_domaine``):
    the first letter of a ROME code names its grand domaine (K1302 -> K, "Services à la personne et à la
    collectivité")."""
    text = files("tdu_shared.data").joinpath("rome4_grands_domaines.csv").read_text(encoding="utf-8")
    return {r["code_grand_domaine"]: r["libelle_grand_domaine"] for r in csv.DictReader(text.splitlines())}
