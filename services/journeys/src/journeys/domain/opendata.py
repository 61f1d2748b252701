"""Monthly open data on the results, for public funders (pure, no I/O).

Counts of journey steps dated in one calendar month (UTC, as the KPIs): applications, immersions done,
hiring promises, training starts and completions, hires, follow-ups at 6 and 12 months and how many of
those found the person in a job. For the region and each of its basins; each as a whole, by ROME grand
domaine (the first letter of the offer's ROME code) and by contract type (CDI, CDD, inconnu), with
statistical disclosure control (``domain.disclosure``): a count below 5 is never published, nor can it
be worked out from the counts that are.

The contract type of a step is the journey's as of that step: the one of its hiring promise or hire once
signed, else the one the offer advertises; neither CDI nor CDD (or not known): ``inconnu``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from journeys.domain.disclosure import THRESHOLD, Cell, Relation, suppress
from journeys.domain.kpis import Period
from journeys.domain.model import Journey, Step
from tdu_shared.rome import grands_domaines

ALL = "ensemble"
"""Every value of a breakdown (the total)."""
UNKNOWN = "inconnu"
REGION, BASIN = "region", "bassin"
CONTRACTS = ("CDI", "CDD", UNKNOWN)
CSV_DELIMITER = ";"
TITLE = "Trait d'Union : résultats mensuels par région et bassin d'emploi"


# ---------------------------------------------------------------- months


def parse_month(text: str) -> str:
    """``YYYY-MM`` checked (ValueError otherwise)."""
    try:
        first = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"mois attendu au format AAAA-MM, pas {text[:20]!r}") from None
    return first.strftime("%Y-%m")


def month_period(month: str) -> Period:
    first = datetime.strptime(parse_month(month), "%Y-%m").date()
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(datetime.combine(first, time(0, tzinfo=UTC)), datetime.combine(after, time(0, tzinfo=UTC)))


def previous_month(now: datetime) -> str:
    today = now.astimezone(UTC).date()
    return (
        date(today.year - 1, 12, 1) if today.month == 1 else date(today.year, today.month - 1, 1)
    ).strftime("%Y-%m")


# ---------------------------------------------------------------- what is counted


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    description: str
    action: str
    """The history step counted."""
    months: int | None = None
    employed: bool | None = None

    def counts(self, step: Step) -> bool:
        if step.action != self.action:
            return False
        if self.months is not None and step.details.get("months") != self.months:
            return False
        return self.employed is None or bool(step.details.get("employed")) == self.employed


def _follow_ups(months: int) -> tuple[Indicator, Indicator, Indicator]:
    recorded = Indicator(
        f"suivis_{months}_mois",
        f"Suivis à {months} mois",
        f"Suivis à {months} mois de l'embauche enregistrés dans le mois.",
        "RecordFollowUp",
        months,
    )
    employed = Indicator(
        f"en_emploi_{months}_mois",
        f"En emploi à {months} mois",
        f"Parmi les suivis à {months} mois enregistrés dans le mois, les personnes en emploi (taux de retour "
        f"à l'emploi à {months} mois : en_emploi_{months}_mois / suivis_{months}_mois).",
        "RecordFollowUp",
        months,
        True,
    )
    without = Indicator(
        f"sans_emploi_{months}_mois", "", "", "RecordFollowUp", months, False
    )  # implied (recorded - employed), never published, protected all the same
    return recorded, employed, without


SIX, TWELVE = _follow_ups(6), _follow_ups(12)
INDICATORS: tuple[Indicator, ...] = (
    Indicator("candidatures", "Candidatures", "Candidatures déposées dans le mois.", "SubmitApplication"),
    Indicator(
        "immersions",
        "Immersions réalisées",
        "Immersions dont le résultat (concluant ou non) a été enregistré dans le mois.",
        "RecordImmersionOutcome",
    ),
    Indicator(
        "promesses_embauche",
        "Promesses d'embauche",
        "Promesses d'embauche signées dans le mois (CDI, ou CDD de 6 mois ou plus).",
        "SignHiringPromise",
    ),
    Indicator(
        "entrees_formation",
        "Entrées en formation",
        "Débuts de formation confirmés dans le mois.",
        "ConfirmTrainingStart",
    ),
    Indicator(
        "sorties_formation",
        "Formations achevées",
        "Fins de formation enregistrées dans le mois.",
        "CompleteTraining",
    ),
    Indicator("embauches", "Embauches", "Embauches enregistrées dans le mois.", "RecordHire"),
    SIX[0],
    SIX[1],
    TWELVE[0],
    TWELVE[1],
)
"""Published, in this order."""


@dataclass(frozen=True)
class Group:
    """Indicators tied by a relation, protected together (each other indicator stands alone)."""

    published: tuple[Indicator, ...]
    hidden: tuple[Indicator, ...] = ()

    @property
    def every(self) -> tuple[Indicator, ...]:
        return (*self.published, *self.hidden)


GROUPS: tuple[Group, ...] = (
    *(Group((i,)) for i in INDICATORS[:6]),
    Group(SIX[:2], SIX[2:]),
    Group(TWELVE[:2], TWELVE[2:]),
)
COUNTED: tuple[Indicator, ...] = tuple(i for g in GROUPS for i in g.every)
CONTRACT_STEPS = frozenset({"SignHiringPromise", "RecordHire"})


def family_of(rome_code: str | None) -> str:
    """The ROME grand domaine of a ROME code (its first letter), ``inconnu`` when none or not a ROME one."""
    letter = (rome_code or "").strip().upper()[:1]
    return letter if letter in grands_domaines() else UNKNOWN


def contract_of(contract_type: str | None) -> str:
    found = (contract_type or "").strip().upper()
    return found if found in CONTRACTS else UNKNOWN


@dataclass(frozen=True)
class OfferFacts:
    """What the export takes from the offer a journey is about."""

    family: str = UNKNOWN
    contract: str = UNKNOWN

    @classmethod
    def of(cls, rome_code: str | None, contract_type: str | None) -> OfferFacts:
        return cls(family_of(rome_code), contract_of(contract_type))


Key = tuple[str, str, str, str]
"""(indicator, basin, grand domaine, contract)."""


@dataclass
class Tally:
    """Counts of the steps dated in ``period``, journey by journey (the journeys need not be kept)."""

    period: Period
    counts: Counter[Key] = field(default_factory=Counter)
    journeys: int = 0

    def add(self, journey: Journey, offer: OfferFacts | None) -> None:
        self.journeys += 1
        facts = offer or OfferFacts()
        contract = facts.contract
        basin = journey.basin or UNKNOWN
        for step in journey.history:
            if step.action in CONTRACT_STEPS and step.details.get("contract_type"):
                contract = contract_of(str(step.details["contract_type"]))
            at = step.at if step.at.tzinfo else step.at.replace(tzinfo=UTC)
            if not self.period.contains(at):
                continue
            for indicator in COUNTED:
                if indicator.counts(step):
                    self.counts[(indicator.code, basin, facts.family, contract)] += 1


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Territory:
    code: str
    label: str


UNKNOWN_FAMILY_LABEL = "Domaine inconnu (offre sans code ROME connu)"


def families() -> list[tuple[str, str]]:
    """Every grand domaine a row may name, with its label."""
    return [*grands_domaines().items(), (UNKNOWN, UNKNOWN_FAMILY_LABEL)]


@dataclass(frozen=True)
class Grid:
    """The cells of one month's table, per indicator: each territory (the region, then its basins) as a
    whole, by grand domaine and by contract type. ``inconnu`` (grand domaine, contract) is a column of the
    month only when an event of the month falls in it: a breakdown that is always 0 would otherwise cost a
    second suppression in every one of its sums."""

    basins: tuple[str, ...]
    families: tuple[str, ...]
    contracts: tuple[str, ...]

    @classmethod
    def of(cls, basins: Sequence[str], counts: Mapping[Key, int]) -> Grid:
        seen_families = {family for _, _, family, _ in counts}
        seen_contracts = {contract for _, _, _, contract in counts}
        return cls(
            tuple(basins),
            (*grands_domaines(), *((UNKNOWN,) if UNKNOWN in seen_families else ())),
            (*CONTRACTS[:2], *((UNKNOWN,) if UNKNOWN in seen_contracts else ())),
        )

    def territories(self) -> list[tuple[str, str]]:
        return [(REGION, ""), *((BASIN, b) for b in self.basins)]

    def breakdowns(self) -> list[tuple[str, str]]:
        """(grand domaine, contract) of each row of a territory: the whole, by grand domaine, by contract."""
        return [(ALL, ALL), *((f, ALL) for f in self.families), *((ALL, c) for c in self.contracts)]

    def cells(self, counts: Mapping[Key, int]) -> dict[Cell, int]:
        """Every cell, hidden ones included: (indicator, level, territory, grand domaine, contract) -> n."""
        by_basin: dict[tuple[str, str], Counter[tuple[str, str]]] = defaultdict(Counter)
        for (code, basin, family, contract), n in counts.items():
            by_basin[(code, basin)].update({(ALL, ALL): n, (family, ALL): n, (ALL, contract): n})
        values: dict[Cell, int] = {}
        for indicator in COUNTED:
            region: Counter[tuple[str, str]] = Counter()
            for basin in self.basins:
                here = by_basin.get((indicator.code, basin), Counter())
                region.update(here)
                for family, contract in self.breakdowns():
                    values[(indicator.code, BASIN, basin, family, contract)] = here[(family, contract)]
            for family, contract in self.breakdowns():
                values[(indicator.code, REGION, "", family, contract)] = region[(family, contract)]
        return values

    def relations(self, group: Group) -> list[Relation]:
        """Every sum the table holds: a territory's whole = its grand domaines = its contracts; the region
        = its basins, in each breakdown; follow-ups recorded = in a job + without one (hidden)."""
        found = []
        for indicator in group.every:
            code = indicator.code
            for level, territory in self.territories():
                whole = (code, level, territory, ALL, ALL)
                found.append(Relation(whole, tuple((code, level, territory, f, ALL) for f in self.families)))
                found.append(Relation(whole, tuple((code, level, territory, ALL, c) for c in self.contracts)))
            for family, contract in self.breakdowns():
                found.append(
                    Relation(
                        (code, REGION, "", family, contract),
                        tuple((code, BASIN, b, family, contract) for b in self.basins),
                    )
                )
        if group.hidden:
            (recorded, employed), (without,) = group.published, group.hidden
            for level, territory in self.territories():
                for family, contract in self.breakdowns():
                    where = (level, territory, family, contract)
                    found.append(
                        Relation((recorded.code, *where), ((employed.code, *where), (without.code, *where)))
                    )
        return found


COLUMNS: tuple[dict[str, Any], ...] = (
    {
        "name": "mois",
        "title": "Mois",
        "type": "yearmonth",
        "description": "Mois des événements comptés (AAAA-MM, jours en temps universel).",
        "constraints": {"required": True},
    },
    {
        "name": "niveau",
        "title": "Niveau",
        "type": "string",
        "description": "Territoire de la ligne : la région entière (region) ou un bassin d'emploi (bassin).",
        "constraints": {"required": True, "enum": [REGION, BASIN]},
    },
    {
        "name": "code_territoire",
        "title": "Code du territoire",
        "type": "string",
        "description": "Code INSEE de la région (niveau region) ou code de la zone d'emploi INSEE 2020 du "
        "bassin (niveau bassin ; « inconnu » pour les offres sans bassin).",
        "constraints": {"required": True},
    },
    {
        "name": "libelle_territoire",
        "title": "Territoire",
        "type": "string",
        "description": "Nom de la région ou du bassin d'emploi.",
        "constraints": {"required": True},
    },
    {
        "name": "code_region",
        "title": "Code de la région",
        "type": "string",
        "description": "Code INSEE de la région qui publie (pour réunir les fichiers de plusieurs régions).",
        "constraints": {"required": True},
    },
    {
        "name": "indicateur",
        "title": "Indicateur",
        "type": "string",
        "description": "Ce qui est compté : " + " ; ".join(f"{i.code} = {i.description}" for i in INDICATORS),
        "constraints": {"required": True, "enum": [i.code for i in INDICATORS]},
    },
    {
        "name": "libelle_indicateur",
        "title": "Libellé de l'indicateur",
        "type": "string",
        "description": "Libellé en clair de l'indicateur.",
        "constraints": {"required": True},
    },
    {
        "name": "grand_domaine",
        "title": "Grand domaine ROME",
        "type": "string",
        "description": "Grand domaine du ROME (France Travail) du métier de l'offre : la première lettre de "
        "son code ROME (A à N) ; « inconnu » si l'offre n'a pas de code ROME connu ; « ensemble » pour "
        "tous les domaines. Une ligne ventile par grand domaine ou par type de contrat, jamais les deux.",
        "constraints": {"required": True, "enum": [ALL, *(f for f, _ in families())]},
    },
    {
        "name": "libelle_grand_domaine",
        "title": "Libellé du grand domaine",
        "type": "string",
        "description": "Libellé du grand domaine dans le référentiel ROME de France Travail.",
        "constraints": {"required": True},
    },
    {
        "name": "type_contrat",
        "title": "Type de contrat",
        "type": "string",
        "description": "Contrat du parcours à la date de l'événement : celui de la promesse d'embauche ou de "
        "l'embauche une fois signée, sinon celui de l'offre ; CDI, CDD (6 mois ou plus), « inconnu » s'il "
        "n'est ni l'un ni l'autre ou pas connu ; « ensemble » pour tous les contrats.",
        "constraints": {"required": True, "enum": [ALL, *CONTRACTS]},
    },
    {
        "name": "valeur",
        "title": "Nombre",
        "type": "integer",
        "description": f"Nombre d'événements du mois. Vide quand il est couvert par le secret statistique "
        f"(secret_statistique = true) : tout nombre inférieur à {THRESHOLD}, zéro compris, et les nombres "
        f"qui permettraient de le retrouver par différence avec un total publié.",
        "constraints": {"minimum": THRESHOLD},
    },
    {
        "name": "secret_statistique",
        "title": "Secret statistique",
        "type": "boolean",
        "description": "true quand la valeur est masquée au titre du secret statistique (valeur vide).",
        "constraints": {"required": True},
    },
)
FIELDS = tuple(c["name"] for c in COLUMNS)


def table_schema() -> dict[str, Any]:
    """The Frictionless Table Schema of the CSV (and of the rows of the JSON)."""
    return {
        "title": TITLE,
        "description": "Une ligne par mois, territoire, indicateur et ventilation (ensemble, grand domaine "
        f"ROME ou type de contrat). CSV en UTF-8, séparateur « {CSV_DELIMITER} », première ligne = noms des "
        "colonnes ; valeur vide = secret statistique.",
        "fields": [dict(c) for c in COLUMNS],
        "missingValues": [""],
        "primaryKey": ["mois", "niveau", "code_territoire", "indicateur", "grand_domaine", "type_contrat"],
    }


@dataclass(frozen=True)
class Export:
    month: str
    region: Territory
    generated_at: datetime
    rows: list[dict[str, Any]]
    journeys_read: int = 0

    @property
    def suppressed(self) -> int:
        return sum(1 for r in self.rows if r["secret_statistique"])

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
        writer.writerow(FIELDS)
        for row in self.rows:
            writer.writerow([_csv_value(row[name]) for name in FIELDS])
        return out.getvalue()

    def json(self) -> str:
        return json.dumps(
            {
                "titre": TITLE,
                "mois": self.month,
                "region": {"code": self.region.code, "libelle": self.region.label},
                "genere_le": self.generated_at.astimezone(UTC).isoformat(),
                "secret_statistique": {
                    "seuil": THRESHOLD,
                    "regle": f"Aucun nombre inférieur à {THRESHOLD} (zéro compris) n'est publié, ni ne peut "
                    "être retrouvé par différence entre les nombres publiés (secret secondaire).",
                    "marqueur": "valeur null et secret_statistique true",
                },
                "schema": table_schema(),
                "donnees": self.rows,
            },
            ensure_ascii=False,
        )


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_export(
    month: str,
    region: Territory,
    basins: Sequence[Territory],
    tally: Tally,
    generated_at: datetime,
) -> Export:
    """The month's table: every published cell, suppressed where the disclosure control says so."""
    known = {b.code for b in basins}
    others = sorted({basin for _, basin, _, _ in tally.counts} - known)
    territories = [
        *basins,
        *(Territory(b, "Bassin non renseigné" if b == UNKNOWN else b) for b in others),
    ]
    grid = Grid.of([t.code for t in territories], tally.counts)
    values = grid.cells(tally.counts)
    secret: set[Cell] = set()
    for group in GROUPS:
        hidden = {c for c in values if c[0] in {i.code for i in group.hidden}}
        mine = {c: v for c, v in values.items() if c[0] in {i.code for i in group.every}}
        secret |= suppress(mine, grid.relations(group), hidden)
    labels = dict(families())
    rows = []
    for indicator in INDICATORS:
        for level, territory in [(REGION, region), *((BASIN, t) for t in territories)]:
            for family, contract in grid.breakdowns():
                cell = (indicator.code, level, "" if level == REGION else territory.code, family, contract)
                hide = cell in secret
                rows.append(
                    {
                        "mois": month,
                        "niveau": level,
                        "code_territoire": territory.code,
                        "libelle_territoire": territory.label,
                        "code_region": region.code,
                        "indicateur": indicator.code,
                        "libelle_indicateur": indicator.label,
                        "grand_domaine": family,
                        "libelle_grand_domaine": "Tous domaines" if family == ALL else labels[family],
                        "type_contrat": contract,
                        "valeur": None if hide else values[cell],
                        "secret_statistique": hide,
                    }
                )
    return Export(month, region, generated_at, rows, tally.journeys)


def read_csv(text: str) -> list[dict[str, str]]:
    """The rows of an export's CSV, as text (for checks)."""
    return list(csv.DictReader(io.StringIO(text), delimiter=CSV_DELIMITER))
