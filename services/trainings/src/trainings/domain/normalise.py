"""From what the catalogue says to a session the platform can trust.

Tolerant where the meaning is clear (a postal code in the INSEE field, a comma decimal, ISO dates, missing
coordinates), a :class:`Rejection` with a reason where it is not (no ids, no title, impossible dates).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date

from tdu_shared.geo import (
    BasinConfig,
    Commune,
    CommuneTable,
    departement_of_insee,
    departement_of_postal_code,
    valid_coordinates,
)
from tdu_shared.rome import ROME_CODE, RomeReferential
from trainings.domain.basins import BasinIndex
from trainings.domain.model import (
    REGION_FUNDER,
    Location,
    Precision,
    Provider,
    RawAddress,
    RawFunder,
    RawSession,
    Rejection,
    Session,
)

UNKNOWN_DATES = frozenset({"00000000", "99999999"})
MAX_ROME_CODES = 5
TEXT_LIMIT = 2_000
"""Longest text a session's field may hold, in characters (a list of codes counts as its joined text)."""
TEXT_LIMITS = {"objective": 20_000}
"""Fields allowed more: the objective is the session's free description. A session is stored and published
as one event, which the broker caps at 1 MB: a session with a longer field is refused with that field
named, instead of failing its whole batch."""
_SPACES = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]*>")
_DIGITS = re.compile(r"\D")
_FIRST_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(h|heures?)?\s*$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Reference:
    """The offline reference data normalisation reads: communes, basins, ROME fiches, regions."""

    communes: CommuneTable
    basins: BasinConfig
    rome: RomeReferential
    region_of_departement: dict[str, str]
    basin_index: BasinIndex
    place_memo: dict[RawAddress, tuple[Location, str | None, str | None]] = field(
        default_factory=dict, compare=False
    )
    """Place, region and basin of each address already seen: catalogues repeat the same places a lot."""


class InvalidValue(ValueError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def clean(text: str | None) -> str | None:
    """Trimmed text with single spaces; None for empty and for the '-' placeholder of real files."""
    if text is None:
        return None
    text = _SPACES.sub(" ", text).strip()
    return text if text and text != "-" else None


def plain_text(text: str | None) -> str | None:
    """LHEO free text often carries escaped HTML: keep the words, drop the markup."""
    if text is None:
        return None
    return clean(html.unescape(_TAGS.sub(" ", html.unescape(text))))


def parse_lheo_date(text: str | None, field: str) -> date | None:
    """AAAAMMJJ; 00000000 and 99999999 mean unknown. ISO and JJ/MM/AAAA are accepted (meaning is clear)."""
    value = clean(text)
    if value is None or value in UNKNOWN_DATES:
        return None
    digits = value
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        digits = value.replace("-", "")
    elif re.fullmatch(r"\d{2}/\d{2}/\d{4}", value):
        day, month, year = value.split("/")
        digits = f"{year}{month}{day}"
    if not re.fullmatch(r"\d{8}", digits):
        raise InvalidValue(f"invalid_{field}", f"{field} {value!r} is not a date AAAAMMJJ")
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InvalidValue(f"invalid_{field}", f"{field} {value!r} is not a real day") from None


def parse_count(text: str | None) -> int | None:
    """'455', '455 h', '455,0 heures' -> 455; anything else (such as '2 ans') -> None."""
    value = clean(text)
    if value is None:
        return None
    match = _FIRST_NUMBER.match(value)
    if not match:
        return None
    return int(float(match.group(1).replace(",", ".")))


def parse_coordinate(text: str | None) -> float | None:
    value = clean(text)
    if value is None:
        return None
    try:
        return float(value.replace(",", "."))
    except ValueError:
        return None


def rome_codes_of(codes: tuple[str, ...]) -> tuple[str, ...]:
    """Valid ROME codes, upper-cased, without duplicates, at most five (the LHEO limit)."""
    found: list[str] = []
    for code in codes:
        value = (clean(code) or "").upper()
        if ROME_CODE.match(value) and value not in found:
            found.append(value)
    return tuple(found[:MAX_ROME_CODES])


def rome_fiches_of(codes: tuple[str, ...], rome: RomeReferential) -> tuple[str, ...]:
    """The ROME 4 fiches the codes roll up to (M1854 -> M1801); unknown codes are left out."""
    fiches: list[str] = []
    for code in codes:
        fiche = rome.fiche_of(code)
        if fiche and fiche not in fiches:
            fiches.append(fiche)
    return tuple(fiches)


def codes_of(values: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        code = clean(value)
        if code and code not in found:
            found.append(code)
    return tuple(found)


def siret_of(text: str | None) -> str | None:
    digits = _DIGITS.sub("", text or "")
    return digits if len(digits) == 14 else None


def contact_id_of(siret: str | None, email: str | None) -> str | None:
    """Opaque id of the provider's contact: by SIRET when known, else by a hash of the e-mail."""
    if not email:
        return None
    if siret:
        return f"provider:{siret}"
    return "provider:" + hashlib.sha256(email.lower().encode()).hexdigest()[:16]


def email_of(text: str | None) -> str | None:
    value = clean(text)
    return value if value and _EMAIL.match(value) else None


# ---------------------------------------------------------------- place


def _postal_code(text: str | None) -> str | None:
    value = (clean(text) or "").replace(" ", "")
    return value if re.fullmatch(r"\d{5}", value) else None


def _insee_code(text: str | None) -> str | None:
    value = (clean(text) or "").replace(" ", "").upper()
    return value if re.fullmatch(r"(\d{5}|2[AB]\d{3})", value) else None


def resolve_commune(
    address: RawAddress, communes: CommuneTable, region: str | None = None
) -> tuple[Commune | None, str | None]:
    """The commune of an address, and its INSEE code (also when the table does not know it).

    A city name shared by communes of several départements goes to the one of the address's département,
    else of the served ``region``, before any other (the table holds every commune of France).

    A postal code written in code-INSEE-commune (57000 for Metz, whose INSEE code is 57463) is recognised
    and the commune found from the postal code or the city name instead.
    """
    insee = _insee_code(address.insee)
    postal = _postal_code(address.postal_code)
    known = communes.by_insee(insee)
    if known is not None:
        return known, known.insee
    looks_postal = insee is not None and (insee == postal or bool(communes.by_postal_code(insee)))
    postal = postal or (insee if looks_postal else None)
    by_postal = communes.by_postal_code(postal)
    city = clean(address.city)
    if city:
        named = [c for c in communes.by_name(city) if not by_postal or c in by_postal]
        if postal and not by_postal:
            named = [c for c in named if c.departement == departement_of_postal_code(postal)]
        departement = clean(address.departement)
        named.sort(key=lambda c: (c.departement != departement, c.region != region))
        if named:
            return named[0], named[0].insee
    if len({c.insee for c in by_postal}) == 1:
        return by_postal[0], by_postal[0].insee
    return None, None if looks_postal else insee


MEMO_LIMIT = 20_000
"""Addresses remembered at most (a region's catalogue has a few thousand places): memory stays flat."""


def locate(address: RawAddress, ref: Reference) -> tuple[Location, str | None, str | None]:
    """The session's place, its region and its basin (remembered per address in a bounded memo)."""
    found = ref.place_memo.get(address)
    if found is None:
        if len(ref.place_memo) >= MEMO_LIMIT:
            ref.place_memo.clear()
        found = ref.place_memo[address] = _locate(address, ref)
    return found


def _locate(address: RawAddress, ref: Reference) -> tuple[Location, str | None, str | None]:
    """Coordinates: given, else the commune centre; region from the département; basin when located."""
    commune, insee = resolve_commune(address, ref.communes, ref.basins.region)
    postal = _postal_code(address.postal_code)
    departement = (
        departement_of_insee(insee)
        if insee
        else departement_of_postal_code(postal)
        if postal
        else clean(address.departement)
    )
    lat, lon = parse_coordinate(address.lat), parse_coordinate(address.lon)
    precision = Precision.EXACT
    if not valid_coordinates(lat, lon):
        lat, lon, precision = None, None, Precision.UNLOCATED
        if commune is not None:
            lat, lon, precision = commune.lat, commune.lon, Precision.COMMUNE
    city = commune.name if commune else clean(address.city)
    street = clean(" ".join(line for line in address.lines if clean(line)))
    label = ", ".join(p for p in (street, " ".join(p for p in (postal, city) if p)) if p) or None
    location = Location(label, street, postal, insee, city, departement, lat, lon, precision)
    region = ref.region_of_departement.get(departement or "") or _region_code(address.region)
    return location, region, basin_of(location, region, ref)


def _region_code(text: str | None) -> str | None:
    value = clean(text)
    return value if value and re.fullmatch(r"\d{2}", value) else None


def basin_of(place: Location, region: str | None, ref: Reference) -> str | None:
    """The employment basin of a located place in the served region; None elsewhere or when unlocated."""
    if region != ref.basins.region or place.lat is None or place.lon is None:
        return None
    return ref.basin_index.basin_of(place.lat, place.lon, place.commune_insee)


# ---------------------------------------------------------------- funding and hours


def funders_of(funders: tuple[RawFunder, ...]) -> tuple[str, ...]:
    return codes_of(tuple(f.code or "" for f in funders))


def funded_places_of(funders: tuple[RawFunder, ...]) -> int | None:
    """Places the Region funds when it is a funder, else the places all funders declare."""
    regional = [f for f in funders if clean(f.code) == REGION_FUNDER]
    counted = [parse_count(f.places) for f in (regional or list(funders))]
    known = [c for c in counted if c is not None]
    return sum(known) if known else None


def hours_of(raw: RawSession) -> int | None:
    total = parse_count(raw.hours_total)
    if total is not None:
        return total
    centre, company = parse_count(raw.hours_centre), parse_count(raw.hours_company)
    if centre is not None or company is not None:
        return (centre or 0) + (company or 0)
    return parse_count(raw.duration_text)


# ---------------------------------------------------------------- the session


def session_id_of(source: str, formation_id: str, action_id: str, session_number: str) -> str:
    return f"{source}:{formation_id}:{action_id}:{session_number}"


def normalise(raw: RawSession, source: str, ref: Reference) -> Session | Rejection:
    """One session the platform can use, or the reason it cannot."""
    formation_id, action_id = clean(raw.formation_id), clean(raw.action_id)
    session_number, title = clean(raw.session_number), plain_text(raw.title)

    def reject(reason: str, detail: str = "") -> Rejection:
        return Rejection(reason, formation_id, action_id, session_number, detail)

    for value, reason in (
        (formation_id, "missing_formation_id"),
        (action_id, "missing_action_id"),
        (session_number, "missing_session_number"),
        (title, "missing_title"),
    ):
        if value is None:
            return reject(reason)
    assert formation_id and action_id and session_number and title
    try:
        start = parse_lheo_date(raw.start, "start_date")
        end = parse_lheo_date(raw.end, "end_date")
    except InvalidValue as exc:
        return reject(exc.reason, exc.detail)
    if start and end and end < start:
        return reject("end_before_start", f"end {end} before start {start}")
    place, region, basin = locate(raw.place, ref)
    rome_codes = rome_codes_of(raw.rome_codes)
    funders = funders_of(raw.funders)
    siret, email = siret_of(raw.provider_siret), email_of(raw.provider_email)
    session = Session(
        session_id=session_id_of(source, formation_id, action_id, session_number),
        source=source,
        formation_id=formation_id,
        action_id=action_id,
        title=title,
        objective=plain_text(raw.objective),
        rome_codes=rome_codes,
        rome_fiches=rome_fiches_of(rome_codes, ref.rome),
        formacodes=codes_of(raw.formacodes),
        nsf_codes=codes_of(raw.nsf_codes),
        rncp=clean(raw.rncp),
        certifinfo=clean(raw.certifinfo),
        entry_level=clean(raw.entry_level),
        exit_level=clean(raw.exit_level),
        start_date=start,
        end_date=end,
        recruitment_state=clean(raw.recruitment_state),
        place=place,
        region=region,
        basin=basin,
        provider=Provider(siret, clean(raw.provider_name), email, contact_id_of(siret, email)),
        funders=funders,
        region_funded=REGION_FUNDER in funders,
        funded_places=parse_count(raw.funded_places) if raw.funded_places else funded_places_of(raw.funders),
        hours=hours_of(raw),
    )
    for name, length in _text_lengths(session):
        limit = TEXT_LIMITS.get(name, TEXT_LIMIT)
        if length > limit:
            return reject("field_too_long", f"{name}: {length} caractères (au plus {limit})")
    return session


def _text_lengths(record: object, prefix: str = "") -> Iterator[tuple[str, int]]:
    """Each text field of a session (nested ones as ``place.address``) and its length in characters."""
    for spec in fields(record):  # type: ignore[arg-type]
        value = getattr(record, spec.name)
        if is_dataclass(value):
            yield from _text_lengths(value, f"{prefix}{spec.name}.")
        elif isinstance(value, str):
            yield prefix + spec.name, len(value)
        elif isinstance(value, tuple):
            yield prefix + spec.name, sum(len(str(v)) + 1 for v in value)
