"""Synthetic LHEO 2.2 catalogues of any size, for the benchmark and load tests (never for production)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from tdu_shared.geo import Commune, commune_table
from tdu_shared.rome import rome_referential

HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n<lheo xmlns="http://www.lheo.org/2.2">\n<offres>\n'
FOOTER = "</offres>\n</lheo>\n"


def formations(sessions: int, *, per_action: int = 2, seed: int = 7) -> Iterator[str]:
    """LHEO formations (one action each) holding ``sessions`` sessions in all."""
    rng = random.Random(seed)
    communes = list(commune_table())
    fiches = sorted(rome_referential().fiches())
    made, number = 0, 0
    while made < sessions:
        number += 1
        count = min(per_action, sessions - made)
        made += count
        yield _formation(rng, number, count, communes, fiches)


def _formation(
    rng: random.Random, number: int, sessions: int, communes: list[Commune], fiches: list[str]
) -> str:
    commune = rng.choice(communes)
    postal = commune.postal_codes[0] if commune.postal_codes else commune.insee
    geo = (
        f"<geolocalisation><latitude>{commune.lat:.5f}</latitude><longitude>{commune.lon:.5f}</longitude>"
        "</geolocalisation>"
        if rng.random() < 0.7
        else ""
    )
    romes = "".join(f"<code-ROME>{r}</code-ROME>" for r in rng.sample(fiches, rng.randint(1, 3)))
    funder = rng.choice(["2", "2", "4", "10"])
    year = rng.choice([2026, 2027])
    session_xml = "".join(
        f'<session numero="S{s}"><periode><debut>{year}{rng.randint(1, 12):02d}01</debut>'
        f"<fin>{year + 1}0630</fin></periode><adresse-inscription><adresse><ligne>x</ligne>"
        f"<codepostal>{postal}</codepostal><ville>{escape(commune.name)}</ville></adresse>"
        f"</adresse-inscription><etat-recrutement>1</etat-recrutement></session>"
        for s in range(1, sessions + 1)
    )
    return (
        f'<formation numero="F{number}"><domaine-formation><code-FORMACODE>31734</code-FORMACODE>'
        f"<code-NSF>311</code-NSF>{romes}</domaine-formation>"
        f"<intitule-formation>Formation {number}</intitule-formation>"
        f"<objectif-formation>&lt;p&gt;Objectif de la formation {number}&lt;/p&gt;</objectif-formation>"
        f"<resultats-attendus>-</resultats-attendus><contenu-formation>-</contenu-formation>"
        f"<certifiante>1</certifiante><contact-formation><coordonnees/></contact-formation>"
        f"<parcours-de-formation>1</parcours-de-formation><code-niveau-entree>1</code-niveau-entree>"
        f"<certification><code-RNCP>{rng.randint(100, 39999)}</code-RNCP></certification>"
        f'<action numero="A{number}"><rythme-formation>Temps plein</rythme-formation>'
        f"<lieu-de-formation><coordonnees><adresse><ligne>{rng.randint(1, 99)} rue de la Gare</ligne>"
        f"<codepostal>{postal}</codepostal><ville>{escape(commune.name)}</ville>"
        f"<code-INSEE-commune>{commune.insee}</code-INSEE-commune>{geo}</adresse></coordonnees>"
        f"</lieu-de-formation>{session_xml}"
        f"<nombre-heures-total>{rng.randint(100, 1200)}</nombre-heures-total>"
        f"<organisme-financeur><code-financeur>{funder}</code-financeur>"
        f"<nb-places-financees>{rng.randint(6, 16)}</nb-places-financees></organisme-financeur></action>"
        f"<organisme-formation-responsable><SIRET-organisme-formation><SIRET>{10**13 + number % 500:014d}"
        f"</SIRET></SIRET-organisme-formation><nom-organisme>Organisme {number % 500}</nom-organisme>"
        f"<coordonnees-organisme><coordonnees><courriel>contact{number % 500}@organisme.example</courriel>"
        f"</coordonnees></coordonnees-organisme></organisme-formation-responsable></formation>\n"
    )


def write_catalogue(path: Path, sessions: int, *, seed: int = 7) -> Path:
    """Write a catalogue of ``sessions`` sessions to ``path`` (streamed: memory stays flat)."""
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for formation in formations(sessions, seed=seed):
            out.write(formation)
        out.write(FOOTER)
    return path
