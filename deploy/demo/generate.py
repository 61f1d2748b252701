# ruff: noqa: E501  (the LHEO template lines mirror the XML they write)
"""Generate the demo dataset: France Travail-shaped offers at real Grand Est communes and an LHEO catalogue
of region-funded sessions, from a fixed seed. No personal data of real people: employer names and e-mails
are invented (``@exemple.fr``), the real sample offers ship as France Travail published them.

    uv run python deploy/demo/generate.py --out .cache/demo            # writes offers.json, catalogue.xml

Sessions start between 1 and 10 months after --today (default: today), so matching finds them in its
window (today to +12 months).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from tdu_shared.geo import Commune, commune_table, distance_km, load_basins
from tdu_shared.rome import rome_referential

HERE = Path(__file__).parent
SAMPLE_OFFERS = HERE / "data" / "offres_K23xx_521_2024-11-28.json"
SEED = 20261122

# Basins of the demo: Metz first, then its neighbours (share of generated offers).
DEMO_BASINS = {"4410": 0.45, "4424": 0.15, "4412": 0.15, "4408": 0.1, "4420": 0.05, "4423": 0.1}

# Occupations with region-funded training in Grand Est (ROME 4 fiches) and how often offers ask for them.
OCCUPATIONS: dict[str, float] = {
    "K2303": 0.14,  # nettoyage (the real sample's fiches)
    "K2307": 0.06,
    "J1501": 0.1,  # aide-soignant
    "H2913": 0.08,  # soudage
    "N1103": 0.1,  # magasinage, préparation de commandes
    "N4101": 0.08,  # conduite de poids lourd
    "F1703": 0.07,  # maçonnerie
    "I1304": 0.07,  # maintenance industrielle
    "G1602": 0.07,  # cuisine
    "D1212": 0.06,  # vente
    "M1607": 0.05,  # secrétariat
    "K1302": 0.06,  # aide à domicile
    "H2909": 0.06,  # montage-assemblage
}
EMPLOYER_KINDS = ["Services", "Industrie", "Logistique", "Bâtiment", "Santé", "Restauration", "Commerce"]
EMPLOYER_PLACES = ["Moselle", "Lorraine", "Est", "Rhin", "Meuse", "Nied", "Seille", "Orne", "Fensch"]
CONTRACTS = [("CDI", None, 0.55), ("CDD", 6, 0.1), ("CDD", 12, 0.1), ("CDD", 3, 0.1), ("MIS", None, 0.15)]


@dataclass(frozen=True)
class Place:
    commune: Commune
    basin: str


def communes_by_basin() -> dict[str, list[Commune]]:
    basins = load_basins()
    grouped: dict[str, list[Commune]] = {code: [] for code in DEMO_BASINS}
    for commune in commune_table():
        basin = basins.basin_of(commune.lat, commune.lon, commune.insee)
        if basin is not None and basin.code in grouped:
            grouped[basin.code].append(commune)
    return grouped


def pick_place(rng: random.Random, grouped: dict[str, list[Commune]]) -> Place:
    basin = rng.choices(list(DEMO_BASINS), weights=list(DEMO_BASINS.values()))[0]
    communes = grouped[basin]
    centre = load_basins().get(basin)
    assert centre is not None
    # People and jobs gather near the basin's centre: weight communes by closeness.
    weights = [1 / (1 + distance_km(c.lat, c.lon, centre.lat, centre.lon)) ** 1.5 for c in communes]
    return Place(rng.choices(communes, weights=weights)[0], basin)


def contract_label(kind: str, months: int | None) -> str:
    if kind == "CDI":
        return "Contrat à durée indéterminée"
    if kind == "CDD":
        return f"Contrat à durée déterminée - {months} Mois"
    return "Mission intérimaire - 1 Mois"


def generated_offer(
    rng: random.Random, n: int, grouped: dict[str, list[Commune]], now: datetime
) -> dict[str, object]:
    rome = rome_referential()
    fiche = rng.choices(list(OCCUPATIONS), weights=list(OCCUPATIONS.values()))[0]
    code = rome.get(fiche)
    assert code is not None, fiche
    kind, months, _ = rng.choices(CONTRACTS, weights=[c[2] for c in CONTRACTS])[0]
    place = pick_place(rng, grouped)
    company = f"{rng.choice(EMPLOYER_KINDS)} {rng.choice(EMPLOYER_PLACES)} {n % 97}"
    slug = company.lower().replace(" ", "-").replace("â", "a").replace("é", "e")
    updated = now - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 1440))
    jitter_lat, jitter_lon = rng.uniform(-0.01, 0.01), rng.uniform(-0.01, 0.01)
    return {
        "id": f"DEMO{n:05d}",
        "intitule": f"{code.label} (H/F)",
        "description": f"Poste de {code.label.lower()} à {place.commune.name}. Formation financée par la Région "
        "avant l'embauche.",
        "dateCreation": (updated - timedelta(days=rng.randint(0, 10))).isoformat().replace("+00:00", "Z"),
        "dateActualisation": updated.isoformat().replace("+00:00", "Z"),
        "lieuTravail": {
            "libelle": f"{place.commune.departement} - {place.commune.name.upper()}",
            "latitude": round(place.commune.lat + jitter_lat, 6),
            "longitude": round(place.commune.lon + jitter_lon, 6),
            "commune": place.commune.insee,
        },
        "romeCode": code.code,
        "romeLibelle": code.label,
        "appellationlibelle": code.label,
        "entreprise": {"nom": company.upper()},
        "typeContrat": kind,
        "typeContratLibelle": contract_label(kind, months),
        "natureContrat": "Contrat travail",
        "contact": {"nom": company.upper(), "courriel": f"recrutement@{slug}.exemple.fr"},
        "nombrePostes": rng.choice([1, 1, 1, 2, 3]),
        "alternance": False,
        "origineOffre": {"origine": "1", "urlOrigine": f"https://demo.traitdunion.eu/offres/DEMO{n:05d}"},
    }


def demo_offers(count: int, rng: random.Random, now: datetime, first: int = 1) -> list[dict[str, object]]:
    sample = json.loads(SAMPLE_OFFERS.read_text(encoding="utf-8"))
    grouped = communes_by_basin()
    return sample + [generated_offer(rng, n, grouped, now) for n in range(first, first + count)]


def lheo_session_xml(rng: random.Random, n: int, fiche: str, place: Place, today: date) -> str:
    rome = rome_referential()
    code = rome.get(fiche)
    assert code is not None
    start = today + timedelta(days=rng.randint(30, 300))
    end = start + timedelta(days=rng.randint(60, 240))
    funder = "2" if rng.random() < 0.85 else "4"  # 2 = Conseil régional, 4 = Pôle emploi / France Travail
    commune = place.commune
    siret = f"{rng.randint(10**13, 10**14 - 1)}"
    provider = f"Centre de formation {rng.choice(EMPLOYER_PLACES)} {n % 23}"
    places = rng.choice([8, 10, 12, 15])
    return f"""<formation numero="F{n:05d}">
<domaine-formation><code-FORMACODE>{rng.randint(10000, 99999)}</code-FORMACODE><code-NSF>{rng.randint(200, 399)}</code-NSF>\
<code-ROME>{fiche}</code-ROME></domaine-formation>
<intitule-formation>{escape(f"Formation {code.label}")}</intitule-formation>
<objectif-formation>{escape(f"Devenir {code.label.lower()} : compétences du métier et stage en entreprise.")}\
</objectif-formation>
<resultats-attendus>Titre professionnel</resultats-attendus>
<contenu-formation>Modules métier, sécurité, stage pratique en entreprise.</contenu-formation>
<certifiante>1</certifiante>
<contact-formation><coordonnees><courriel>contact@cf{n % 23}.exemple.fr</courriel></coordonnees></contact-formation>
<parcours-de-formation>1</parcours-de-formation>
<code-niveau-entree>{rng.choice(["0", "1", "2", "3"])}</code-niveau-entree>
<certification><code-RNCP>{rng.randint(1000, 39999)}</code-RNCP></certification>
<code-niveau-sortie>{rng.choice(["3", "4"])}</code-niveau-sortie>
<action numero="A{n:05d}">
<rythme-formation>Temps plein</rythme-formation>
<niveau-entree-obligatoire>0</niveau-entree-obligatoire>
<modalites-enseignement>0</modalites-enseignement>
<lieu-de-formation><coordonnees><ligne>{escape(provider)}</ligne><adresse>\
<ligne>{rng.randint(1, 120)} rue de la Gare</ligne><ville>{escape(commune.name)}</ville>\
<departement>{commune.departement}</departement><code-INSEE-commune>{commune.insee}</code-INSEE-commune>\
<region>44</region><pays>FR</pays><geolocalisation><latitude>{commune.lat}</latitude>\
<longitude>{commune.lon}</longitude></geolocalisation></adresse></coordonnees></lieu-de-formation>
<modalites-entrees-sorties>0</modalites-entrees-sorties>
<session numero="S{n:05d}"><periode><debut>{start:%Y%m%d}</debut><fin>{end:%Y%m%d}</fin></periode>\
<adresse-inscription><adresse><ligne>{escape(provider)}</ligne><ville>{escape(commune.name)}</ville>\
<code-INSEE-commune>{commune.insee}</code-INSEE-commune></adresse></adresse-inscription>\
<etat-recrutement>1</etat-recrutement></session>
<nombre-heures-total>{rng.choice([400, 600, 800, 1000])}</nombre-heures-total>
<organisme-financeur><code-financeur>{funder}</code-financeur><nb-places-financees>{places}</nb-places-financees>\
</organisme-financeur>
</action>
<organisme-formation-responsable><numero-activite>44{n:09d}</numero-activite>\
<SIRET-organisme-formation><SIRET>{siret}</SIRET></SIRET-organisme-formation>\
<nom-organisme>{escape(provider)}</nom-organisme><raison-sociale>{escape(provider)}</raison-sociale>\
<coordonnees-organisme><coordonnees><courriel>contact@cf{n % 23}.exemple.fr</courriel></coordonnees>\
</coordonnees-organisme><contact-organisme><coordonnees><courriel>contact@cf{n % 23}.exemple.fr</courriel>\
</coordonnees></contact-organisme></organisme-formation-responsable>
</formation>
"""


def demo_catalogue(count: int, rng: random.Random, today: date, first: int = 1) -> str:
    grouped = communes_by_basin()
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<lheo xmlns="http://www.lheo.org/2.2">\n<offres>\n']
    for n in range(first, first + count):
        fiche = rng.choices(list(OCCUPATIONS), weights=list(OCCUPATIONS.values()))[0]
        parts.append(lheo_session_xml(rng, n, fiche, pick_place(rng, grouped), today))
    parts.append("</offres>\n</lheo>\n")
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path(".cache/demo"), help="folder to write into")
    parser.add_argument(
        "--offers", type=int, default=800, help="generated offers (besides the 521 real ones)"
    )
    parser.add_argument("--sessions", type=int, default=120, help="generated training sessions")
    parser.add_argument("--today", type=date.fromisoformat, default=date.today(), help="reference day (ISO)")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    parser.add_argument(
        "--first",
        type=int,
        default=1,
        help="number of the first generated offer and session (DEMO00001, S00001): a second dataset "
        "numbered after the first adds to it rather than replacing it",
    )
    args = parser.parse_args()
    now = datetime.combine(args.today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
    args.out.mkdir(parents=True, exist_ok=True)
    offers = demo_offers(args.offers, random.Random(args.seed), now, args.first)
    (args.out / "offers.json").write_text(json.dumps(offers, ensure_ascii=False), encoding="utf-8")
    catalogue = demo_catalogue(args.sessions, random.Random(args.seed + 1), args.today, args.first)
    (args.out / "catalogue.xml").write_text(catalogue, encoding="utf-8")
    print(json.dumps({"offers": len(offers), "sessions": args.sessions, "out": str(args.out)}))


if __name__ == "__main__":
    main()
