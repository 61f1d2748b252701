"""Streaming LHEO 2.2/2.3 reader: one formation at a time, elements cleared as they are read.

Namespace-agnostic (http://www.lheo.org/2.2, http://lheo.gouv.fr/2.3 or none) and tolerant of the
spelling slips of real exports: element names compare lower-case, '_' as '-', and a few known
misspellings are read as the element they mean.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from typing import IO, Any

from lxml import etree

from trainings.domain.model import (
    CatalogueBroken,
    FormationRecord,
    RawAddress,
    RawFunder,
    RawSession,
    Violation,
    ViolationLog,
)

LHEO_23 = "http://lheo.gouv.fr/2.3"

ALIASES = {
    "code-postal": "codepostal",
    "cp": "codepostal",
    "code-insee": "code-insee-commune",
    "insee-commune": "code-insee-commune",
    "code-commune-insee": "code-insee-commune",
    "lattitude": "latitude",
    "longitute": "longitude",
    "longitutde": "longitude",
    "geolocalistion": "geolocalisation",
    "geolocalization": "geolocalisation",
    "intitule-de-formation": "intitule-formation",
    "objectif-de-formation": "objectif-formation",
    "organisme-financeurs": "organisme-financeur",
    "code-financeurs": "code-financeur",
    "nb-places-financee": "nb-places-financees",
    "siret-organisme": "siret-organisme-formation",
    "etat-de-recrutement": "etat-recrutement",
    "nombre-heure-total": "nombre-heures-total",
}

Element = Any  # lxml's _Element (its stubs are not installed)
_NAMES: dict[object, str] = {}


def name_of(tag: object) -> str:
    """The element's meaning: local name, lower-case, known misspellings mapped (comments -> '')."""
    name = _NAMES.get(tag)
    if name is None:
        if isinstance(tag, str):
            local = tag.rsplit("}", 1)[-1].lower().replace("_", "-")
            name = ALIASES.get(local, local)
        else:
            name = ""
        _NAMES[tag] = name
    return name


class Node:
    """An element with its children indexed by meaning on first use (each lookup is then a dict get)."""

    __slots__ = ("_children", "element")

    def __init__(self, element: Element) -> None:
        self.element = element
        self._children: dict[str, list[Node]] | None = None

    def children(self) -> dict[str, list[Node]]:
        if self._children is None:
            index: dict[str, list[Node]] = {}
            names = _NAMES
            for child in self.element:
                name = names.get(child.tag)
                if name is None:
                    name = name_of(child.tag)
                index.setdefault(name, []).append(Node(child))
            self._children = index
        return self._children

    @property
    def text(self) -> str | None:
        return self.element.text  # type: ignore[no-any-return]

    @property
    def line(self) -> int:
        return self.element.sourceline or 0

    def attribute(self, name: str) -> str | None:
        value = self.element.get(name)
        if value is None:
            items = self.element.attrib.items()
            value = next((v for k, v in items if k.rsplit("}", 1)[-1].lower() == name), None)
        return value if value is None else str(value)


def kids(node: Node | None, name: str) -> list[Node]:
    return [] if node is None else node.children().get(name, [])


def kid(node: Node | None, *path: str) -> Node | None:
    for name in path:
        if node is None:
            return None
        found = node.children().get(name)
        node = found[0] if found else None
    return node


def text(node: Node | None, *path: str) -> str | None:
    found = kid(node, *path)
    return None if found is None else found.text


def texts(node: Node | None, name: str) -> tuple[str, ...]:
    return tuple(t for c in kids(node, name) if (t := c.text))


# ---------------------------------------------------------------- formation -> raw sessions


def address_of(adresse: Node | None) -> RawAddress | None:
    if adresse is None:
        return None
    geo = kid(adresse, "geolocalisation")
    return RawAddress(
        lines=texts(adresse, "ligne"),
        postal_code=text(adresse, "codepostal"),
        city=text(adresse, "ville"),
        insee=text(adresse, "code-insee-commune"),
        departement=text(adresse, "departement"),
        region=text(adresse, "region"),
        lat=text(geo, "latitude"),
        lon=text(geo, "longitude"),
    )


def _first(values: list[str | None]) -> str | None:
    return next((v for v in values if v and v.strip() and v.strip() != "-"), None)


def provider_email(formation: Node, responsible: Node | None) -> str | None:
    return _first(
        [
            text(responsible, "coordonnees-organisme", "coordonnees", "courriel"),
            *(text(c, "coordonnees", "courriel") for c in kids(responsible, "contact-organisme")),
            *(text(c, "coordonnees", "courriel") for c in kids(formation, "contact-formation")),
        ]
    )


def read_formation(element: Element) -> FormationRecord:
    """Every session of a formation, with what it inherits from its formation and action."""
    formation = Node(element)
    domain = kid(formation, "domaine-formation")
    certifications = kids(formation, "certification")
    responsible = kid(formation, "organisme-formation-responsable")
    common: dict[str, Any] = {
        "formation_id": formation.attribute("numero"),
        "title": text(formation, "intitule-formation"),
        "objective": text(formation, "objectif-formation"),
        "rome_codes": texts(domain, "code-rome"),
        "formacodes": texts(domain, "code-formacode"),
        "nsf_codes": texts(domain, "code-nsf"),
        "rncp": _first([text(c, "code-rncp") for c in certifications]),
        "certifinfo": _first([text(c, "code-certifinfo") for c in certifications]),
        "entry_level": text(formation, "code-niveau-entree"),
        "exit_level": text(formation, "code-niveau-sortie"),
        "provider_siret": text(responsible, "siret-organisme-formation", "siret"),
        "provider_name": _first([text(responsible, "nom-organisme"), text(responsible, "raison-sociale")]),
        "provider_email": provider_email(formation, responsible),
    }
    actions = kids(formation, "action")
    sessions = tuple(s for action in actions for s in _action_sessions(action, common))
    return FormationRecord(formation.line, len(actions), sessions)


def _action_sessions(action: Node, common: dict[str, Any]) -> Iterator[RawSession]:
    place = address_of(kid(action, "lieu-de-formation", "coordonnees", "adresse"))
    funders = tuple(
        RawFunder(text(f, "code-financeur"), text(f, "nb-places-financees"))
        for f in kids(action, "organisme-financeur")
    )
    for session in kids(action, "session"):
        yield RawSession(
            **common,
            action_id=action.attribute("numero"),
            session_number=session.attribute("numero"),
            start=text(session, "periode", "debut"),
            end=text(session, "periode", "fin"),
            recruitment_state=text(session, "etat-recrutement"),
            place=place or address_of(kid(session, "adresse-inscription", "adresse")) or RawAddress(),
            funders=funders,
            hours_total=text(action, "nombre-heures-total"),
            hours_centre=text(action, "nombre-heures-centre"),
            hours_company=text(action, "nombre-heures-entreprise"),
            duration_text=text(action, "duree-indicative"),
        )


# ---------------------------------------------------------------- the stream


@cache
def lheo_schema() -> etree.XMLSchema:
    """The official LHEO 2.3 XSD, shipped with the package."""
    path = files("trainings.data").joinpath("lheo-2.3.xsd")
    with path.open("rb") as handle:
        return etree.XMLSchema(etree.parse(handle))


def schema_violations(formation: Element) -> list[Violation]:
    """Violations of the 2.3 schema by one formation, whatever namespace the file uses."""
    candidate = copy.deepcopy(formation)
    for element in candidate.iter():
        if isinstance(element.tag, str):
            element.tag = f"{{{LHEO_23}}}{element.tag.rsplit('}', 1)[-1]}"
    schema = lheo_schema()
    if schema.validate(candidate):
        return []
    return [Violation(error.line, error.message) for error in schema.error_log]


def read_catalogue(
    stream: IO[bytes] | str, *, violations: ViolationLog | None = None
) -> Iterator[FormationRecord]:
    """Formations one at a time; memory stays flat whatever the file size.

    ``violations``, when given, receives the LHEO 2.3 schema violations of each formation. Raises
    :class:`CatalogueBroken` with the line where the XML breaks, or when the file is not LHEO.
    """
    context = etree.iterparse(
        stream,
        events=("end",),
        tag="{*}formation",
        huge_tree=True,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
    )
    try:
        for _, formation in context:
            _check_root(formation.getroottree().getroot())
            if violations is not None:
                violations.add(schema_violations(formation))
            yield read_formation(formation)
            formation.clear(keep_tail=True)
            parent = formation.getparent()
            while formation.getprevious() is not None and parent is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise CatalogueBroken(f"XML invalide : {exc.msg}", exc.lineno) from None
    _check_root(context.root)


def _check_root(root: Element | None) -> None:
    if root is None or name_of(root.tag) != "lheo":
        found = "rien" if root is None else f"<{name_of(root.tag)}>"
        raise CatalogueBroken(f"ce n'est pas un catalogue LHEO : élément racine {found} au lieu de <lheo>", 1)
