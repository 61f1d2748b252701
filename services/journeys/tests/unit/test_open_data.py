"""Monthly open data: the counts of a month, the statistical disclosure control, the files, the endpoints.

The disclosure control is checked by an attacker written here, apart from the code: from the published
rows alone and the sums a reader knows the table holds (a territory's whole = its grand domaines = its
contracts, the region = its basins, follow-ups = in a job + without one), it solves for every cell it can
(Gaussian elimination, its own) and must find none that is secret.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys import handlers, opendata
from journeys.access import POLICY
from journeys.adapters.opendata import MemoryOpenData
from journeys.domain import opendata as od
from journeys.domain.disclosure import Relation, determined_unknowns, suppress
from journeys.handlers import Ports
from journeys.testing import application, eligibility, memory_ports
from tdu_dev.testing.access import guarded_app, session
from tdu_shared.clock import FixedClock
from tdu_shared.contracts import journeys as c
from tdu_shared.contracts.journeys import Role

OPERATOR = {"actor_role": Role.BASIN_OPERATOR, "actor_id": "O1"}
REGION = od.Territory("44", "Grand Est")
METZ, NANCY = od.Territory("4410", "Metz"), od.Territory("4412", "Nancy")
MONTH = "2026-11"
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def at(m: int, d: int, year: int = 2026) -> datetime:
    return datetime(year, m, d, 9, 0, tzinfo=UTC)


SCHEDULE = (
    c.ScheduleImmersion,
    {"starts_on": date(2026, 3, 2), "ends_on": date(2026, 3, 3), "place": "Metz"},
)
POSITIVE = (c.RecordImmersionOutcome, {"outcome": "positive"})
PROMISE_CDD = (
    c.SignHiringPromise,
    {"contract_type": "CDD", "contract_months": 6, "planned_start": date(2026, 11, 1), "position": "Soudeur"},
)
COMMIT = (c.SignTrainingCommitment, {"session_id": "S1"})
START = (c.ConfirmTrainingStart, {"started_on": date(2026, 4, 1)})
COMPLETE = (c.CompleteTraining, {"completed_on": date(2026, 10, 30)})
HIRE_CDI = (c.RecordHire, {"contract_start": date(2026, 11, 2), "contract_type": "CDI"})


def follow_up(months: int, employed: bool) -> tuple[type[c.OnJourney], dict[str, Any]]:
    return (c.RecordFollowUp, {"months": months, "employed": employed})


def to_hire(month: int, day: int) -> list[tuple[datetime, tuple[type[c.OnJourney], dict[str, Any]]]]:
    """Applied in March, hired on that day: the promise was a CDD, the hire a CDI."""
    return [
        (at(3, 2), SCHEDULE),
        (at(3, 4), POSITIVE),
        (at(3, 5), PROMISE_CDD),
        (at(3, 6), COMMIT),
        (at(4, 1), START),
        (at(10, 30), COMPLETE),
        (at(month, day), HIRE_CDI),
    ]


async def journey(
    ports: Ports,
    name: str,
    offer_id: str,
    applied: datetime,
    steps: Sequence[tuple[datetime, tuple[type[c.OnJourney], dict[str, Any]]]],
) -> None:
    assert isinstance(ports.clock, FixedClock)
    ports.clock.moment = applied
    jid = (await handlers.execute(application(command_id=name, offer_id=offer_id), ports)).journey.journey_id
    for n, (moment, (command, fields)) in enumerate(steps):
        ports.clock.moment = moment
        await handlers.execute(command(command_id=f"{name}-{n}", journey_id=jid, **OPERATOR, **fields), ports)


def value(
    export: od.Export, indicator: str, territory: str, family: str = od.ALL, contract: str = od.ALL
) -> Any:
    """The published value of a cell (None: secret)."""
    (row,) = [
        r
        for r in export.rows
        if (r["indicateur"], r["code_territoire"], r["grand_domaine"], r["type_contrat"])
        == (indicator, territory, family, contract)
    ]
    assert (row["valeur"] is None) == row["secret_statistique"]
    return row["valeur"]


HIRE_CDD = (
    c.RecordHire,
    {"contract_start": date(2026, 11, 2), "contract_type": "CDD", "contract_months": 12},
)
EPINAL = od.Territory("4424", "Épinal")


@pytest.fixture
async def november() -> od.Export:
    """Hires in November: Metz 6 (K offers; promised a CDD, hired on a CDI), Nancy 3 (H offers), Épinal 5
    (F offers, CDD); one Metz hire in October, one application in December; 7 follow-ups at 6 months of
    hires of the year before (6 in a job, 1 not)."""
    ports, _ = memory_ports()
    await handlers.on_eligibility_changed(eligibility("OFFER-K", basin="4410", rome_code="K1302"), ports)
    await handlers.on_eligibility_changed(eligibility("OFFER-H", basin="4412", contract_type="CDD"), ports)
    await handlers.on_eligibility_changed(eligibility("OFFER-F", basin="4424", rome_code="F1703"), ports)
    for n in range(6):
        await journey(ports, f"metz-{n}", "OFFER-K", at(3, 1), to_hire(11, 3 + n))
    for n in range(3):
        await journey(ports, f"nancy-{n}", "OFFER-H", at(3, 1), to_hire(11, 20))
    for n in range(5):
        await journey(
            ports, f"epinal-{n}", "OFFER-F", at(3, 1), [*to_hire(11, 20)[:-1], (at(11, 21), HIRE_CDD)]
        )
    await journey(ports, "october", "OFFER-K", at(3, 1), to_hire(10, 31))
    await journey(ports, "december", "OFFER-K", at(12, 1), [])
    for n in range(7):
        steps = [(moment.replace(year=2025), step) for moment, step in to_hire(11, 1)]
        steps.append((at(11, 10 + n), follow_up(6, n != 0)))
        await journey(ports, f"followed-{n}", "OFFER-K", at(3, 1, 2025), steps)
    return await opendata.build(ports, MONTH, REGION, [METZ, NANCY, EPINAL], NOW)


def test_a_basin_under_five_hires_shows_them_secret_and_five_or_more_shown(november: od.Export) -> None:
    assert value(november, "embauches", "44") == 14  # the October hire is not in November
    assert value(november, "embauches", "4410") == 6
    assert value(november, "embauches", "4412") is None  # 3 < 5
    # 14 - 6 - 5 would give Nancy's 3 away: Épinal's 5, the smallest other part, is secret too.
    assert value(november, "embauches", "4424") is None


def test_nothing_secret_can_be_worked_out_by_difference(november: od.Export) -> None:
    assert attack(november.rows) == set()
    # 7 follow-ups, 6 in a job: publishing both would tell the 1 without a job.
    assert value(november, "suivis_6_mois", "44") == 7
    assert value(november, "en_emploi_6_mois", "44") is None
    assert attack(november.rows, {("sans_emploi_6_mois", od.REGION, "", od.ALL, od.ALL)}) == set()


def test_counts_come_by_grand_domaine_and_by_the_contract_as_of_the_event(november: od.Export) -> None:
    assert value(november, "embauches", "44", "K") == 6
    assert value(november, "embauches", "44", "F") == 5
    assert value(november, "embauches", "44", "H") is None
    # The hire's contract, not the promise's (all were promised a CDD in March, not counted in November).
    assert value(november, "embauches", "44", contract="CDI") == 9
    assert value(november, "embauches", "44", contract="CDD") == 5
    assert value(november, "promesses_embauche", "44") is None
    labels = {r["grand_domaine"]: r["libelle_grand_domaine"] for r in november.rows}
    assert labels["K"] == "Services à la personne et à la collectivité"
    assert len(labels) == 1 + 14  # every offer had a ROME code: no "inconnu" grand domaine this month
    assert {r["type_contrat"] for r in november.rows} == {od.ALL, "CDI", "CDD"}
    assert len(november.rows) == len(od.INDICATORS) * 4 * (1 + 14 + 2)
    assert value(november, "candidatures", "44") is None  # the December application is not in November


async def test_steps_of_journeys_applied_long_before_count_and_later_ones_are_not_read() -> None:
    ports, _ = memory_ports()
    await handlers.on_eligibility_changed(eligibility("OFFER-K", basin="4410", rome_code="K1302"), ports)
    for n in range(5):
        await journey(
            ports, f"old-{n}", "OFFER-K", at(1, 5, 2024), [(at(10, 1), SCHEDULE), (at(11, 2 + n), POSITIVE)]
        )
    for n in range(5):
        await journey(ports, f"november-{n}", "OFFER-K", at(11, 30), [])
    for n in range(5):
        await journey(ports, f"new-{n}", "OFFER-K", at(12, 1), [])
    export = await opendata.build(ports, MONTH, REGION, [METZ], NOW)
    assert export.journeys_read == 10  # the list is read from the month's end: December's are not
    assert value(export, "immersions", "44") == 5
    assert value(export, "candidatures", "44") == value(export, "candidatures", "4410") == 5


def test_the_csv_has_the_schema_columns_semicolons_and_utf8(november: od.Export) -> None:
    text = november.csv()
    header = text.split("\r\n", 1)[0]
    schema = od.table_schema()
    assert header.split(";") == [f["name"] for f in schema["fields"]]
    rows = od.read_csv(text)
    assert len(rows) == len(november.rows)
    secret = [r for r in rows if r["secret_statistique"] == "true"]
    assert secret and all(r["valeur"] == "" for r in secret)
    assert all(int(r["valeur"]) >= 5 for r in rows if r["secret_statistique"] == "false")
    assert "Services à la personne et à la collectivité" in text.encode("utf-8").decode("utf-8")
    for field in schema["fields"]:
        assert field["description"] and field["type"] in {"string", "integer", "boolean", "yearmonth"}
    published = json.loads(november.json())
    assert published["mois"] == MONTH and published["schema"] == schema
    assert [list(r) for r in published["donnees"][:1]] == [[f["name"] for f in schema["fields"]]]
    assert published["donnees"] == november.rows


def test_only_an_ended_month_is_exported_and_the_previous_one_by_default() -> None:
    assert opendata.month_to_export(None, NOW) == "2026-11"
    assert opendata.month_to_export(None, datetime(2027, 1, 1, tzinfo=UTC)) == "2026-12"
    assert opendata.month_to_export("2026-03", NOW) == "2026-03"
    with pytest.raises(ValueError, match="pas terminé"):
        opendata.month_to_export("2026-12", NOW)
    with pytest.raises(ValueError, match="AAAA-MM"):
        opendata.month_to_export("novembre", NOW)
    assert opendata.month_to_export("2026-12", NOW, preview=True) == "2026-12"  # files only, never served


async def test_the_offer_keeps_its_rome_code_and_contract_after_it_is_withdrawn() -> None:
    ports, _ = memory_ports()
    await handlers.on_eligibility_changed(eligibility("OFFER-K", rome_code="K1302"), ports)
    withdrawn = eligibility("OFFER-K", evaluated_at=datetime(2027, 2, 1, tzinfo=UTC)).model_copy(
        update={"offer": None, "eligible": False}
    )
    await handlers.on_eligibility_changed(withdrawn, ports)
    offer = await ports.offers.get("OFFER-K")
    assert offer is not None and not offer.eligible
    assert (offer.rome_code, offer.contract_type) == ("K1302", "CDI")
    # Without a ROME code the offer's fiche names the grand domaine (same first letter).
    await handlers.on_eligibility_changed(eligibility("OFFER-H"), ports)
    fiche_only = await ports.offers.get("OFFER-H")
    assert fiche_only is not None and od.OfferFacts.of(fiche_only.rome_code, None).family == "H"


async def test_the_public_endpoints_serve_the_latest_export_without_a_credential(
    november: od.Export, tmp_path: Path
) -> None:
    store = MemoryOpenData()
    app = guarded_app([opendata.open_data_router(store)], POLICY)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        none = await client.get("/open-data/latest.csv")
        assert none.status_code == 404 and "aucun export" in none.json()["detail"]
        await store.save(opendata.stored(november))
        got = await client.get("/open-data/latest.csv")
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        assert got.text == november.csv()
        assert (await client.get(f"/open-data/{MONTH}.json")).json()["donnees"] == november.rows
        missing = await client.get("/open-data/2026-10.csv")
        assert missing.status_code == 404 and "2026-10" in missing.json()["detail"]
        assert (await client.get("/open-data/2026-13.csv")).status_code == 422
        assert (await client.get("/open-data/schema.json")).json() == od.table_schema()
        # A credential changes nothing (any role may read public data).
        seeker = await client.get("/open-data/latest.json", headers=session("seeker", "U1"))
        assert seeker.status_code == 200
    files = opendata.write_files(opendata.stored(november), tmp_path)
    assert sorted(Path(f).name for f in files) == [
        "schema.json",
        "traitdunion-44-2026-11.csv",
        "traitdunion-44-2026-11.json",
    ]
    assert (tmp_path / "traitdunion-44-2026-11.csv").read_bytes() == november.csv().encode("utf-8")


# ---------------------------------------------------------------- the suppression itself


def test_a_lone_small_part_takes_the_smallest_other_part_with_it() -> None:
    values = {("t",): 20, ("a",): 3, ("b",): 6, ("c",): 11}
    secret = suppress(values, [Relation(("t",), (("a",), ("b",), ("c",)))])
    assert secret == {("a",), ("b",)}


def test_zeros_are_secret_and_cannot_be_seen_by_difference() -> None:
    values = {("t",): 12, ("a",): 0, ("b",): 0, ("c",): 7, ("d",): 5}
    secret = suppress(values, [Relation(("t",), (("a",), ("b",), ("c",), ("d",)))])
    assert secret == {("a",), ("b",), ("d",)}  # else a + b = 12 - 7 - 5 = 0 gives both away


def test_a_hidden_small_count_is_protected_too() -> None:
    # recorded 7 = employed 7 + without a job 0 (hidden): publishing both would say nobody lost the job.
    values = {("r",): 7, ("e",): 7, ("n",): 0}
    secret = suppress(values, [Relation(("r",), (("e",), ("n",)))], hidden={("n",)})
    assert secret == {("e",)}


def test_cells_fixed_only_by_several_sums_together_are_found() -> None:
    # x + y and y known (two sums, each with its own secret cells): both are found; x + y alone: neither.
    rows = [{0: Fraction(1), 1: Fraction(1)}, {1: Fraction(1)}]
    assert determined_unknowns(rows) == {0, 1}
    assert determined_unknowns([{0: Fraction(1), 1: Fraction(1)}]) == set()
    # A 2 x 2 table with margins, all four inner cells secret: the margins fix none of them.
    cells = {"a": 0, "b": 1, "c": 2, "d": 3}
    sums = [("a", "b"), ("c", "d"), ("a", "c"), ("b", "d")]
    assert determined_unknowns([{cells[x]: Fraction(1), cells[y]: Fraction(1)} for x, y in sums]) == set()
    assert determined_unknowns([{cells[x]: Fraction(1), cells[y]: Fraction(1)} for x, y in sums[:3]]) == set()
    assert determined_unknowns(
        [*({cells[x]: Fraction(1), cells[y]: Fraction(1)} for x, y in sums), {0: Fraction(1)}]
    ) == {0, 1, 2, 3}


def test_a_cell_only_several_sums_give_away_is_protected() -> None:
    """A 4 x 4 table with margins: each row and column holds 0 or 2+ small cells, no sum alone gives one
    away, but x23 joins two rectangles of small cells and rows 1 + 2 - columns 1 - 2 fix it."""
    grid = [[1, 2, 10, 10], [2, 1, 3, 10], [10, 10, 1, 2], [10, 10, 2, 1]]
    values = {(f"x{r}{k}",): grid[r - 1][k - 1] for r in range(1, 5) for k in range(1, 5)}
    values |= {(f"r{r}",): sum(grid[r - 1]) for r in range(1, 5)}
    values |= {(f"c{k}",): sum(row[k - 1] for row in grid) for k in range(1, 5)}
    values[("all",)] = sum(map(sum, grid))
    relations = [
        *(Relation((f"r{r}",), tuple((f"x{r}{k}",) for k in range(1, 5))) for r in range(1, 5)),
        *(Relation((f"c{k}",), tuple((f"x{r}{k}",) for r in range(1, 5))) for k in range(1, 5)),
        Relation(("all",), tuple((f"r{r}",) for r in range(1, 5))),
        Relation(("all",), tuple((f"c{k}",) for k in range(1, 5))),
    ]
    secret = suppress(values, relations)
    assert {c for c, v in values.items() if v < 5} < secret  # one more than the small cells at least
    unknown = sorted(secret)
    matrix = []
    for relation in relations:
        row = [Fraction(0)] * len(unknown)
        for sign, members in ((1, [relation.total]), (-1, list(relation.parts))):
            for member in members:
                if member in secret:
                    row[unknown.index(member)] += sign
        matrix.append(row)
    assert dense_determined(matrix, len(unknown)) == set()


INDICATOR_CODES = [i.code for i in od.INDICATORS if not i.code.startswith(("suivis", "en_emploi"))]
BASINS = ("4410", "4412", "4424")
keys = st.tuples(
    st.sampled_from(BASINS),
    st.sampled_from(["H", "K", "F", od.UNKNOWN]),
    st.sampled_from(["CDI", "CDD", od.UNKNOWN]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.dictionaries(
        st.tuples(st.sampled_from(INDICATOR_CODES), keys), st.integers(1, 14), max_size=30
    ),
    follow_ups=st.dictionaries(keys, st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=8),
)
def test_on_any_table_no_secret_cell_can_be_worked_out(
    counts: dict[tuple[str, tuple[str, str, str]], int],
    follow_ups: dict[tuple[str, str, str], tuple[int, int]],
) -> None:
    tally = od.Tally(od.month_period(MONTH))
    for (indicator, key), n in counts.items():
        tally.counts[(indicator, *key)] += n
    for key, (employed, without) in follow_ups.items():
        tally.counts[("suivis_6_mois", *key)] += employed + without
        tally.counts[("en_emploi_6_mois", *key)] += employed
        tally.counts[("sans_emploi_6_mois", *key)] += without
    basins = [od.Territory(b, b) for b in BASINS]
    export = od.build_export(MONTH, REGION, basins, tally, NOW)
    truth = true_values(tally.counts)
    for row in export.rows:
        cell = cell_of(row)
        if row["secret_statistique"]:
            assert row["valeur"] is None
        else:
            assert row["valeur"] == truth[cell] >= 5
        assert truth[cell] >= 5 or row["secret_statistique"]
    hidden_small = {
        ("sans_emploi_6_mois", *cell_of(r)[1:])
        for r in export.rows
        if r["indicateur"] == "suivis_6_mois" and truth[("sans_emploi_6_mois", *cell_of(r)[1:])] < 5
    }
    assert attack(export.rows, hidden_small) == set()


# ---------------------------------------------------------------- the attacker


Cell = tuple[str, str, str, str, str]


def cell_of(row: Mapping[str, Any]) -> Cell:
    territory = "" if row["niveau"] == od.REGION else row["code_territoire"]
    return (row["indicateur"], row["niveau"], territory, row["grand_domaine"], row["type_contrat"])


def true_values(counts: Mapping[tuple[str, str, str, str], int]) -> dict[Cell, int]:
    found: Counter[Cell] = Counter()
    for (indicator, basin, family, contract), n in counts.items():
        for level, territory in ((od.REGION, ""), (od.BASIN, basin)):
            found[(indicator, level, territory, od.ALL, od.ALL)] += n
            found[(indicator, level, territory, family, od.ALL)] += n
            found[(indicator, level, territory, od.ALL, contract)] += n
    return defaultdict(int, found)


def attack(rows: Iterable[Mapping[str, Any]], protect_hidden: Collection[Any] = ()) -> set[Any]:
    """The secret cells (and hidden ones in ``protect_hidden``) a reader works out from the published rows
    and the sums the table is known to hold."""
    rows = list(rows)
    found = set()
    for group in ({"suivis_6_mois", "en_emploi_6_mois"}, {"suivis_12_mois", "en_emploi_12_mois"}):
        found |= _attack([r for r in rows if r["indicateur"] in group], protect_hidden)
    for other in {r["indicateur"] for r in rows} - {i.code for i in od.INDICATORS[6:]}:
        found |= _attack([r for r in rows if r["indicateur"] == other], protect_hidden)
    return found


def _attack(rows: list[Mapping[str, Any]], protect_hidden: Collection[Any]) -> set[Any]:
    known = {cell_of(r): r["valeur"] for r in rows}
    families = sorted({k[3] for k in known} - {od.ALL})
    contracts = sorted({k[4] for k in known} - {od.ALL})
    basins = sorted({k[2] for k in known if k[1] == od.BASIN})
    indicators = sorted({k[0] for k in known})
    sums: list[tuple[Any, list[Any]]] = []
    for indicator in indicators:
        for level, territory in [(od.REGION, ""), *((od.BASIN, b) for b in basins)]:
            whole = (indicator, level, territory, od.ALL, od.ALL)
            sums.append((whole, [(indicator, level, territory, f, od.ALL) for f in families]))
            sums.append((whole, [(indicator, level, territory, od.ALL, ct) for ct in contracts]))
        for family, contract in {(k[3], k[4]) for k in known}:
            sums.append(
                (
                    (indicator, od.REGION, "", family, contract),
                    [(indicator, od.BASIN, b, family, contract) for b in basins],
                )
            )
    for months in (6, 12):
        for cell in [k for k in known if k[0] == f"suivis_{months}_mois"]:
            where = cell[1:]
            sums.append(
                (cell, [(f"en_emploi_{months}_mois", *where), (f"sans_emploi_{months}_mois", *where)])
            )
    # Unknowns: secret cells and every hidden one; each sum is total - parts = 0.
    unknown = sorted(
        {k for k, v in known.items() if v is None} | {p for _, parts in sums for p in parts if p not in known}
    )
    index = {k: i for i, k in enumerate(unknown)}
    matrix = []
    for total, parts in sums:
        row = [Fraction(0)] * len(unknown)
        if total in index:
            row[index[total]] += 1
        for p in parts:
            if p in index:
                row[index[p]] -= 1
        if any(row):
            matrix.append(row)
    solved = {unknown[i] for i in dense_determined(matrix, len(unknown))}
    for total, parts in sums:  # a known total whose secret parts add up to 0: each of them is 0
        secret = [p for p in parts if known.get(p) is None]
        shown = [known[p] for p in parts if known.get(p) is not None]
        if secret and known.get(total) is not None and known[total] == sum(shown):
            solved.update(secret)
    return {k for k in solved if k in known or k in protect_hidden}


P = 2**61 - 1
"""A prime: the attacker's elimination works modulo it (exact for these 0/±1 systems, far faster)."""


def dense_determined(matrix: list[list[Fraction]], width: int) -> set[int]:
    """Reduced row echelon form, dense; a pivot alone in its row is determined."""
    rows = [[int(v) % P for v in r] for r in matrix]
    pivots: list[tuple[int, int]] = []
    r = 0
    for col in range(width):
        found = next((i for i in range(r, len(rows)) if rows[i][col]), None)
        if found is None:
            continue
        rows[r], rows[found] = rows[found], rows[r]
        inverse = pow(rows[r][col], -1, P)
        rows[r] = [v * inverse % P for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][col]:
                factor = rows[i][col]
                rows[i] = [(a - factor * b) % P for a, b in zip(rows[i], rows[r], strict=True)]
        pivots.append((r, col))
        r += 1
    return {col for row, col in pivots if sum(1 for v in rows[row] if v) == 1}
