"""The real ONISEP record (LHEO 2.2) yields one session, every field as the file says."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from trainings.adapters.lheo import read_catalogue
from trainings.cli import app
from trainings.domain.model import Precision, Session
from trainings.domain.normalise import normalise
from trainings.importer import reference
from trainings.translate import to_state

SAMPLE = Path(__file__).parents[1] / "fixtures" / "exemple-bts-onisep-lheo22.xml"


def only_session() -> Session:
    [formation] = list(read_catalogue(str(SAMPLE)))
    [raw] = formation.sessions
    session = normalise(raw, "onisep", reference())
    assert isinstance(session, Session)
    return session


def test_dry_run_json_counts_the_one_formation_action_and_session() -> None:
    result = CliRunner().invoke(app, ["import", str(SAMPLE), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("formations", "actions", "sessions", "funded_sessions", "rejected")} == {
        "formations": 1,
        "actions": 1,
        "sessions": 1,
        "funded_sessions": 0,
        "rejected": 0,
    }
    assert summary["reasons"] == {}
    assert summary["source"] == "exemple-bts-onisep-lheo22"


def test_dry_run_with_validate_reports_schema_check_and_still_reads_the_file() -> None:
    result = CliRunner().invoke(app, ["import", str(SAMPLE), "--dry-run", "--json", "--validate"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["sessions"] == 1
    assert summary["violations"]["count"] == len(summary["violations"]["first"])


def test_ids_are_namespaced_by_catalogue_source() -> None:
    session = only_session()
    assert session.session_id == "onisep:9436_18706:9436_18706:9436_18706"
    assert (session.source, session.formation_id, session.action_id) == ("onisep", "9436_18706", "9436_18706")


def test_title_and_objective_are_plain_text() -> None:
    session = only_session()
    assert session.title == "BTS négociation et relation client"
    assert session.objective is not None
    assert session.objective.startswith("A la fois vendeur, manager et commercial, le technicien supérieur")
    assert session.objective.endswith("en direction de la clientèle.")
    assert "<p>" not in session.objective


def test_codes_rome_formacode_nsf_and_certification() -> None:
    session = only_session()
    assert session.rome_codes == ("D1402", "D1403", "D1408")
    assert session.rome_fiches == ("D1402", "D1403", "D1408")
    assert session.formacodes == (
        "34582",
        "34076",
    )  # the provider's 'potentiel' codes are not the formation's
    assert session.nsf_codes == ("312",)
    assert (session.rncp, session.certifinfo) == ("474", "19004")
    assert (session.entry_level, session.exit_level) == ("0", "6")


def test_dates_recruitment_and_hours() -> None:
    session = only_session()
    assert (session.start_date, session.end_date) == (date(2015, 9, 1), date(2017, 8, 31))
    assert session.recruitment_state is None
    assert session.hours is None  # duree-indicative "2 ans" is no number of hours


def test_place_is_the_action_training_place_with_its_coordinates() -> None:
    place = only_session().place
    assert place.address == "Kerneuzec"
    assert place.postal_code == "29391"
    assert place.commune_insee == "29233"
    assert place.commune_name == "Quimperlé"  # the national table's name for 29233
    assert place.departement == "29"
    assert (place.lat, place.lon) == (47.882108, -3.5526545)
    assert place.precision is Precision.EXACT
    assert place.label == "Kerneuzec, 29391 Quimperlé"


def test_a_place_in_brittany_has_its_region_but_no_grand_est_basin() -> None:
    session = only_session()
    assert session.region == "53"
    assert session.basin is None


def test_provider_and_its_contact() -> None:
    provider = only_session().provider
    assert provider.siret == "19290076900014"
    assert provider.name == "Lycée Kerneuzec"
    assert provider.email == "ce.0290076a@ac-rennes.fr"
    assert provider.contact_id == "provider:19290076900014"


def test_without_organisme_financeur_the_session_is_not_region_funded() -> None:
    session = only_session()
    assert session.funders == ()
    assert session.region_funded is False
    assert session.funded_places is None


def test_the_published_state_carries_every_field() -> None:
    state = to_state(only_session(), revision=1)
    data = state.model_dump(mode="json")
    assert data["session_id"] == "onisep:9436_18706:9436_18706:9436_18706"
    assert data["start_date"] == "2015-09-01" and data["end_date"] == "2017-08-31"
    assert data["place"]["precision"] == "exact"
    assert data["provider"] == {
        "siret": "19290076900014",
        "name": "Lycée Kerneuzec",
        "contact_id": "provider:19290076900014",
    }
    assert data["revision"] == 1 and data["region_funded"] is False
