"""France Travail "Offres d'emploi v2" records (objects of /offres/search) -> SourceOffer.

Refuses what can never be an offer: no id, wrong types, impossible dates, oversized fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from offers.domain.model import InvalidRecord, SourceOffer

MAX_ID = 64
MAX_TITLE = 300
MAX_DESCRIPTION = 10_000
MAX_TEXT = 1_000
_OFFER_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def find_email(*texts: str | None) -> str | None:
    """The first e-mail address written in any of ``texts`` (France Travail puts sentences in courriel)."""
    for text in texts:
        found = _EMAIL.search(text or "")
        if found:
            return found.group(0).lower()
    return None


def parse_datetime(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidRecord(f"{field}: a date-time string is required, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRecord(f"{field}: not an ISO 8601 date-time: {value[:40]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def text(record: Mapping[str, Any], field: str, limit: int = MAX_TEXT, *, where: str = "") -> str | None:
    value = record.get(field)
    name = f"{where}{field}"
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"{name}: a string is required, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidRecord(f"{name}: {len(value)} characters, at most {limit} allowed")
    return value.strip() or None


def number(record: Mapping[str, Any], field: str, *, where: str = "") -> float | None:
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecord(f"{where}{field}: a number is required, got {type(value).__name__}")
    return float(value)


def mapping(record: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = record.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRecord(f"{field}: an object is required, got {type(value).__name__}")
    return value


def offer_id_of(record: Mapping[str, Any], field: str = "id") -> str:
    value = record.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecord(f"{field}: the offer id is missing")
    value = value.strip()
    if len(value) > MAX_ID or not _OFFER_ID.match(value):
        raise InvalidRecord(f"{field}: not a valid offer id: {value[:80]!r}")
    return value


def positions_of(record: Mapping[str, Any], field: str) -> int | None:
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecord(f"{field}: an integer is required, got {type(value).__name__}")
    return value if value >= 1 else None


def parse_france_travail(record: Any) -> SourceOffer:
    if not isinstance(record, dict):
        raise InvalidRecord(f"a France Travail offer is a JSON object, got {type(record).__name__}")
    offer_id = offer_id_of(record)
    title = text(record, "intitule", MAX_TITLE)
    if title is None:
        raise InvalidRecord("intitule: the job title is missing")
    updated_raw = record.get("dateActualisation") or record.get("dateCreation")
    if updated_raw is None:
        raise InvalidRecord("dateActualisation: missing (and no dateCreation)")
    place, employer, contact = (
        mapping(record, "lieuTravail"),
        mapping(record, "entreprise"),
        mapping(record, "contact"),
    )
    origin = mapping(record, "origineOffre")
    coordinates = [text(contact, f"coordonnees{i}", where="contact.") for i in (1, 2, 3)]
    return SourceOffer(
        offer_id=offer_id,
        source="france_travail",
        title=title,
        updated_at=parse_datetime(updated_raw, "dateActualisation"),
        created_at=parse_datetime(record["dateCreation"], "dateCreation")
        if record.get("dateCreation")
        else None,
        description=text(record, "description", MAX_DESCRIPTION),
        rome_code=text(record, "romeCode", 10),
        contract_type=text(record, "typeContrat", 10),
        contract_label=text(record, "typeContratLibelle"),
        contract_nature=text(record, "natureContrat"),
        place_label=text(place, "libelle", where="lieuTravail."),
        lat=number(place, "latitude", where="lieuTravail."),
        lon=number(place, "longitude", where="lieuTravail."),
        commune_insee=text(place, "commune", 5, where="lieuTravail."),
        postal_code=text(place, "codePostal", 5, where="lieuTravail."),
        employer_name=text(employer, "nom", where="entreprise."),
        contact_email=find_email(text(contact, "courriel", where="contact."), *coordinates),
        contact_name=text(contact, "nom", where="contact."),
        positions=positions_of(record, "nombrePostes"),
        url=text(origin, "urlOrigine", where="origineOffre."),
    )
