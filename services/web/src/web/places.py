"""What a seeker types in the search form, made into the search's parameters (offline tables).

"Metz", "57000", "57463" (INSEE code), "Saint-Julien-lès-Metz" for a place; "agent de propreté", "K2204"
for an occupation. Several communes or occupations for one text: the page asks which one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from tdu_shared.geo import Commune, commune_table, normalise_name
from tdu_shared.rome import ROME_CODE, rome_referential


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass
class Resolved:
    params: dict[str, str] = field(default_factory=dict)
    label: str | None = None
    choices: list[Choice] = field(default_factory=list)
    error: str | None = None


def commune_label(c: Commune) -> str:
    codes = ", ".join(c.postal_codes[:3])
    return f"{c.name} ({codes})" if codes else c.name


def resolve_place(text: str) -> Resolved:
    text = text.strip()
    table = commune_table()
    if not text:
        return Resolved(error="Indiquez une commune ou un code postal.")
    labelled = re.fullmatch(r"(.+?) \((\d[\dAB]\d{3})[^)]*\)(, département .*)?", text)
    if labelled:  # a suggestion picked: "Metz (57000, 57050, 57070)"
        name, postal = labelled.group(1), labelled.group(2)
        picked = [c for c in table.by_name(name) if postal in c.postal_codes]
        if len(picked) == 1:
            return Resolved({"commune": picked[0].insee}, commune_label(picked[0]))
        text = name
    if re.fullmatch(r"\d[\dAB]\d{3}", text):
        by_postal = table.by_postal_code(text)
        if by_postal:
            names = " / ".join(sorted({c.name for c in by_postal})[:3])
            return Resolved({"postal_code": text}, f"{names} ({text})")
        commune = table.by_insee(text)
        if commune:
            return Resolved({"commune": commune.insee}, commune_label(commune))
        return Resolved(error=f"Code postal inconnu : {text}.")
    found = list({c.insee: c for c in table.by_name(text)}.values())
    if len(found) == 1:
        return Resolved({"commune": found[0].insee}, commune_label(found[0]))
    if found:
        choices = [Choice(c.insee, f"{commune_label(c)}, département {c.insee[:2]}") for c in found]
        return Resolved(choices=choices, error=f"Plusieurs communes s'appellent « {text} » : choisissez.")
    near = suggest_communes(text, 5)
    if near:
        return Resolved(choices=near, error=f"Commune inconnue : « {text} ». Vouliez-vous dire :")
    return Resolved(error=f"Commune inconnue : « {text} ». Essayez le code postal.")


@cache
def _communes_by_key() -> list[tuple[str, Commune]]:
    return sorted(((normalise_name(c.name), c) for c in commune_table()), key=lambda pair: pair[0])


def suggest_communes(text: str, limit: int = 10) -> list[Choice]:
    """Communes whose name starts with ``text``, or whose postal code does."""
    text = text.strip()
    if len(text) < 2:
        return []
    if text.isdigit():
        hits = [c for c in commune_table() if any(p.startswith(text) for p in c.postal_codes)]
    else:
        key = normalise_name(text)
        hits = [c for k, c in _communes_by_key() if k.startswith(key)]
    hits.sort(key=lambda c: (len(c.name), c.name))
    return [Choice(c.insee, commune_label(c)) for c in hits[:limit]]


def _words(text: str) -> list[str]:
    return [w for w in normalise_name(text).split() if len(w) > 2 or w.isdigit()]


@cache
def _occupations() -> list[tuple[str, str, str]]:
    """(code, label, normalised label) of every ROME code, fiches first."""
    codes = sorted(rome_referential().codes(), key=lambda c: (c.code != c.fiche, c.code))
    return [(c.code, c.label, normalise_name(c.label)) for c in codes]


def suggest_occupations(text: str, limit: int = 10) -> list[Choice]:
    words = _words(text)
    if not words:
        return []
    hits = [(code, label) for code, label, key in _occupations() if all(w in key for w in words)]
    return [Choice(code, f"{label} ({code})") for code, label in hits[:limit]]


def resolve_occupation(text: str) -> Resolved:
    text = text.strip()
    if not text:
        return Resolved()
    labelled = re.search(r"\(([A-N]\d{4})\)$", text)
    if labelled:  # a suggestion picked: "Soudeur / Soudeuse (H2913)"
        text = labelled.group(1)
    if ROME_CODE.match(text.upper()):
        known = rome_referential().get(text)
        if known is None:
            return Resolved(error=f"Code métier inconnu : {text}.")
        return Resolved({"rome": known.code}, f"{known.label} ({known.code})")
    hits = suggest_occupations(text, 20)
    if len(hits) == 1:
        return Resolved({"rome": hits[0].value}, hits[0].label)
    if hits:
        return Resolved(choices=hits, error=f"Plusieurs métiers correspondent à « {text} » : choisissez.")
    return Resolved(error=f"Aucun métier ne correspond à « {text} ». Essayez un autre mot.")
