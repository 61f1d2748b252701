"""Real files are dirty: tolerant where the meaning is clear, a rejection with a reason where not."""

from __future__ import annotations

import asyncio
import io
from datetime import date
from pathlib import Path

import pytest

from tdu_shared.geo import commune_table
from trainings.adapters.lheo import read_catalogue
from trainings.domain.model import CatalogueBroken, Precision, RawAddress, Rejection, Session
from trainings.domain.normalise import normalise, resolve_commune
from trainings.domain.report import ImportReport
from trainings.handlers import DryRun
from trainings.importer import reference, run_import

FIXTURES = Path(__file__).parents[1] / "fixtures"


def sessions_of(name: str) -> dict[str, Session | Rejection]:
    results: dict[str, Session | Rejection] = {}
    for formation in read_catalogue(str(FIXTURES / name)):
        for i, raw in enumerate(formation.sessions):
            key = f"{raw.formation_id}:{raw.action_id}:{raw.session_number or f'#{i}'}"
            results.setdefault(key, normalise(raw, "cr", reference()))
    return results


def session(name: str, key: str) -> Session:
    found = sessions_of(name)[key]
    assert isinstance(found, Session), found
    return found


def dry_run(name: str) -> ImportReport:
    return asyncio.run(run_import(str(FIXTURES / name), "cr", DryRun()))


def test_dry_run_counts_sessions_funded_ones_and_rejections_by_reason() -> None:
    report = dry_run("dirty-lheo23.xml")
    assert (report.formations, report.actions, report.sessions, report.funded_sessions) == (3, 3, 3, 2)
    assert report.rejected == 5
    assert dict(report.reasons) == {
        "duplicate_session_id": 1,
        "end_before_start": 1,
        "invalid_start_date": 1,
        "missing_session_number": 1,
        "missing_title": 1,
    }
    assert report.complete


def test_postal_code_in_code_insee_commune_is_read_as_the_postal_code() -> None:
    place = session("dirty-lheo23.xml", "F1:A1:S1").place
    assert place.commune_insee == "57463"
    assert place.postal_code == "57000"
    assert place.commune_name == "Metz"


def test_missing_coordinates_fall_back_to_the_commune_centre_and_give_the_basin() -> None:
    found = session("dirty-lheo23.xml", "F1:A1:S1")
    assert found.place.precision is Precision.COMMUNE
    metz = commune_table().by_insee("57463")
    assert metz is not None
    assert (found.place.lat, found.place.lon) == (metz.lat, metz.lon)
    assert (found.region, found.basin) == ("44", "4410")


def test_unknown_dates_00000000_and_99999999_are_null() -> None:
    found = session("dirty-lheo23.xml", "F1:A1:S2")
    assert (found.start_date, found.end_date) == (None, None)


def test_impossible_date_rejects_the_session() -> None:
    rejection = sessions_of("dirty-lheo23.xml")["F1:A1:S3"]
    assert isinstance(rejection, Rejection) and rejection.reason == "invalid_start_date"


def test_session_without_number_is_rejected() -> None:
    rejection = sessions_of("dirty-lheo23.xml")["F1:A1:#3"]
    assert isinstance(rejection, Rejection) and rejection.reason == "missing_session_number"


def test_end_before_start_is_rejected() -> None:
    rejection = sessions_of("dirty-lheo23.xml")["F1:A1:S5"]
    assert isinstance(rejection, Rejection) and rejection.reason == "end_before_start"


def test_formation_without_title_rejects_its_sessions() -> None:
    rejection = sessions_of("dirty-lheo23.xml")["F3:A3:S1"]
    assert isinstance(rejection, Rejection) and rejection.reason == "missing_title"


def test_region_funder_makes_the_session_region_funded_with_its_places() -> None:
    found = session("dirty-lheo23.xml", "F1:A1:S1")
    assert found.funders == ("2", "4")
    assert found.region_funded is True
    assert found.funded_places == 12
    assert found.hours == 455
    assert found.recruitment_state == "1"


def test_rome_codes_are_cleaned_and_derived_codes_roll_up_to_their_fiche() -> None:
    found = session("dirty-lheo23.xml", "F1:A1:S1")
    assert found.rome_codes == ("M1854", "K2303")
    assert found.rome_fiches == ("M1801", "K2303")


def test_provider_siret_with_spaces_is_kept_and_a_bad_one_dropped() -> None:
    assert session("dirty-lheo23.xml", "F1:A1:S1").provider.siret == "12345678900012"
    assert session("dirty-lheo23.xml", "F2:A2:S1").provider.siret is None


def test_html_in_objective_becomes_plain_text() -> None:
    assert session("dirty-lheo23.xml", "F1:A1:S1").objective == "Devenir agent de propreté"


def test_misspelled_elements_and_comma_decimals_are_understood() -> None:
    found = session("dirty-lheo23.xml", "F2:A2:S1")
    assert found.place.postal_code == "54000"
    assert found.place.commune_insee == "54395"
    assert (found.place.lat, found.place.lon) == (48.6921, 6.1844)
    assert found.place.precision is Precision.EXACT
    assert found.basin == "4412"
    assert found.funders == ("4",) and found.region_funded is False


def test_iso_and_french_dates_are_accepted() -> None:
    found = session("dirty-lheo23.xml", "F2:A2:S1")
    assert (found.start_date, found.end_date) == (date(2026, 3, 2), date(2026, 6, 2))


def test_hours_add_up_centre_and_company_when_no_total() -> None:
    assert session("dirty-lheo23.xml", "F2:A2:S1").hours == 440


def test_a_file_without_namespace_is_read_the_same() -> None:
    found = session("no-namespace.xml", "N1:A1:S1")
    assert found.title == "Soudeur"
    assert found.basin == "4423"
    assert found.region_funded is True


def test_broken_xml_says_the_line_and_keeps_what_came_before() -> None:
    report = dry_run("broken.xml")
    assert report.complete is False
    assert report.error_line == 13
    assert report.error is not None and "XML invalide" in report.error
    assert report.sessions == 1


def test_broken_xml_raises_from_the_reader_with_its_line() -> None:
    with pytest.raises(CatalogueBroken) as broken:
        list(read_catalogue(str(FIXTURES / "broken.xml")))
    assert broken.value.line == 13


def test_a_file_that_is_not_lheo_is_refused() -> None:
    report = dry_run("not-lheo.xml")
    assert report.complete is False
    assert report.error is not None and "LHEO" in report.error


def test_an_empty_file_is_broken_not_an_empty_snapshot() -> None:
    report = asyncio.run(run_import(io.BytesIO(b""), "cr", DryRun()))
    assert report.complete is False


def test_an_lheo_file_without_formation_is_a_complete_empty_snapshot() -> None:
    report = dry_run("empty-offres.xml")
    assert report.complete is True and report.sessions == 0


def test_validate_reports_schema_violations_with_lines_without_refusing_the_file() -> None:
    report = asyncio.run(run_import(str(FIXTURES / "dirty-lheo23.xml"), "cr", DryRun(), validate=True))
    assert report.sessions == 3
    assert report.violation_count >= 1
    assert all(v.line > 0 for v in report.violations)
    assert any("intitule-formation" in v.message or "expected" in v.message for v in report.violations)


def test_a_city_name_shared_across_france_goes_to_the_served_region() -> None:
    communes = commune_table()
    assert len({c.region for c in communes.by_name("Saint-Louis")}) > 1
    commune, _ = resolve_commune(RawAddress(city="Saint-Louis"), communes, "44")
    assert commune is not None and commune.region == "44"
    commune, _ = resolve_commune(RawAddress(city="Saint-Louis", departement="68"), communes, "44")
    assert commune is not None and commune.insee == "68297"
