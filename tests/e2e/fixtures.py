"""Small, hand-written inputs for the end-to-end journey: one offer in Metz, one funded session nearby."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import httpx

from tdu_dev.infra.platform import Platform, wait_for

OFFER_ID = "E2E0001"
SESSION_NUMBER = "S-E2E-1"
EMPLOYER_EMAIL = "recrutement@nettoyage-metz.exemple.fr"
PROVIDER_EMAIL = "contact@cf-woippy.exemple.fr"


def offer_record(
    offer_id: str,
    now: datetime,
    *,
    rome: str = "K2303",
    label: str = "Agent / Agente de propreté et d'hygiène",
    title: str | None = None,
) -> dict[str, object]:
    """A France Travail v2 record: a CDI in Metz (by default a cleaner's, titled « Agent de propreté »)."""
    return {
        "id": offer_id,
        "intitule": title or ("Agent de propreté (H/F)" if rome == "K2303" else f"{label} (H/F)"),
        "description": "Poste à Metz. Formation financée par la Région avant l'embauche.",
        "dateCreation": (now - timedelta(days=2)).isoformat().replace("+00:00", "Z"),
        "dateActualisation": (now - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "lieuTravail": {
            "libelle": "57 - Metz",
            "latitude": 49.108385,
            "longitude": 6.194897,
            "codePostal": "57000",
            "commune": "57463",
        },
        "romeCode": rome,
        "romeLibelle": label,
        "entreprise": {"nom": "NETTOYAGE METZ"},
        "typeContrat": "CDI",
        "typeContratLibelle": "Contrat à durée indéterminée",
        "natureContrat": "Contrat travail",
        "contact": {"nom": "NETTOYAGE METZ", "courriel": EMPLOYER_EMAIL},
        "nombrePostes": 1,
    }


def write_offers(folder: Path, now: datetime, records: list[dict[str, object]] | None = None) -> Path:
    """France Travail records (by default one CDI of cleaner, ROME K2303, in Metz) as a JSON array."""
    path = folder / "offers.json"
    offers = records if records is not None else [offer_record(OFFER_ID, now)]
    path.write_text(json.dumps(offers, ensure_ascii=False), encoding="utf-8")
    return path


def formation_xml(key: str, session_number: str, start: date, end: date, *, rome: str = "K2303") -> str:
    """An LHEO 2.2 formation: one region-funded session in Woippy (next to Metz)."""
    return f"""<formation numero="F-{key}">
<domaine-formation><code-FORMACODE>42811</code-FORMACODE><code-ROME>{rome}</code-ROME></domaine-formation>
<intitule-formation>Agent de propreté et d'hygiène</intitule-formation>
<objectif-formation>Titre professionnel agent de propreté et d'hygiène.</objectif-formation>
<resultats-attendus>Titre professionnel</resultats-attendus>
<contenu-formation>Techniques de nettoyage, sécurité, stage en entreprise.</contenu-formation>
<certifiante>1</certifiante>
<contact-formation><coordonnees><courriel>{PROVIDER_EMAIL}</courriel></coordonnees></contact-formation>
<parcours-de-formation>1</parcours-de-formation>
<code-niveau-entree>0</code-niveau-entree>
<action numero="A-{key}">
<rythme-formation>Temps plein</rythme-formation>
<niveau-entree-obligatoire>0</niveau-entree-obligatoire>
<modalites-enseignement>0</modalites-enseignement>
<lieu-de-formation><coordonnees><adresse><ligne>12 rue de Metz</ligne><codepostal>57140</codepostal>
<ville>Woippy</ville><code-INSEE-commune>57751</code-INSEE-commune>
<geolocalisation><latitude>49.1519</latitude><longitude>6.1516</longitude></geolocalisation></adresse>
</coordonnees></lieu-de-formation>
<modalites-entrees-sorties>0</modalites-entrees-sorties>
<session numero="{session_number}"><periode><debut>{start:%Y%m%d}</debut><fin>{end:%Y%m%d}</fin></periode>
<adresse-inscription><adresse><ligne>CF Woippy</ligne><ville>Woippy</ville></adresse></adresse-inscription>
<etat-recrutement>1</etat-recrutement></session>
<organisme-financeur><code-financeur>2</code-financeur><nb-places-financees>12</nb-places-financees></organisme-financeur>
</action>
<organisme-formation-responsable><numero-activite>44570000001</numero-activite>
<SIRET-organisme-formation><SIRET>12345678900012</SIRET></SIRET-organisme-formation>
<nom-organisme>Centre de formation de Woippy</nom-organisme><raison-sociale>CF Woippy</raison-sociale>
<coordonnees-organisme><coordonnees><courriel>{PROVIDER_EMAIL}</courriel></coordonnees></coordonnees-organisme>
<contact-organisme><coordonnees><courriel>{PROVIDER_EMAIL}</courriel></coordonnees></contact-organisme>
</organisme-formation-responsable>
</formation>"""


def write_catalogue(folder: Path, today: date, formations: list[str] | None = None) -> Path:
    """An LHEO 2.2 catalogue, by default one session of cleaner in Woippy starting in two months."""
    if formations is None:
        formations = [
            formation_xml("E2E-1", SESSION_NUMBER, today + timedelta(days=60), today + timedelta(days=180))
        ]
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<lheo xmlns="http://www.lheo.org/2.2"><offres>\n'
        + "\n".join(formations)
        + "\n</offres></lheo>\n"
    )
    path = folder / "catalogue.xml"
    path.write_text(xml, encoding="utf-8")
    return path


def now_utc() -> datetime:
    return datetime.now(UTC)


def import_catalogue_and_offers(
    platform: Platform, folder: Path, source: str, records: list[dict[str, object]] | None = None
) -> dict[str, Any]:
    """The catalogue (one funded session near Metz) and France Travail offers (by default the one in
    Metz), through the services' own import commands; the catalogue import's report."""
    catalogue = write_catalogue(folder, date.today())
    imported = platform.run_cli("trainings", ["import", str(catalogue), "--source", source, "--json"])
    assert imported.returncode == 0, imported.stderr
    offers = platform.run_cli("offers", ["import", str(write_offers(folder, now_utc(), records)), "--json"])
    assert offers.returncode == 0, offers.stderr
    report: dict[str, Any] = json.loads(imported.stdout.strip().splitlines()[-1])
    return report


def apply_until_accepted(
    journeys_url: str, application: dict[str, Any], credential: dict[str, str], key: str, timeout: float = 90
) -> Any:
    """An application (by a signed-in seeker, or a partner key on a seeker's behalf), sent again (same
    idempotency key) until journeys has seen the offer's eligibility, as a front end does, also while the
    service is down; the created journey."""

    def applied() -> dict[str, Any] | None:
        try:
            response = httpx.post(
                f"{journeys_url}/journeys",
                json=application,
                headers={**credential, "Idempotency-Key": key},
                timeout=10,
            )
        except httpx.HTTPError:
            return None
        return dict(response.json()) if response.status_code in (200, 201) else None

    return wait_for(applied, timeout, f"the application {key} to be accepted")


class Outbox:
    """What the real SMTP server and the SMS provider stand-in received."""

    def __init__(self, platform: Platform) -> None:
        self.index = platform.mail_dir / "index.jsonl"
        self.sms_file = platform.sms_file

    def mails(self) -> list[dict[str, Any]]:
        return _lines(self.index)

    def header(self, mail: dict[str, Any], name: str) -> str | None:
        raw = (self.index.parent / mail["file"]).read_bytes()
        value = BytesParser(policy=default).parsebytes(raw, headersonly=True)[name]
        return None if value is None else str(value)

    def sms(self) -> list[dict[str, Any]]:
        return _lines(self.sms_file)

    def text(self, mail: dict[str, Any]) -> str:
        raw = (self.index.parent / mail["file"]).read_bytes()
        body = BytesParser(policy=default).parsebytes(raw).get_body(preferencelist=("plain",))
        return str(body.get_content()) if body is not None else ""

    def wait_mail(self, to: str, subject: str, timeout: float = 30) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((m for m in self.mails() if to in m["to"] and subject in m["subject"]), None)

        mail: dict[str, Any] = wait_for(
            found, timeout, f"e-mail to {to} about {subject!r}; got {self.mails()}"
        )
        return mail

    def wait_sms(self, number_end: str, text: str, timeout: float = 30) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next(
                (s for s in self.sms() if s["recipient"].endswith(number_end) and text in s["content"]), None
            )

        sms: dict[str, Any] = wait_for(
            found, timeout, f"SMS to ...{number_end} with {text!r}; got {self.sms()}"
        )
        return sms


def _lines(path: Any) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
