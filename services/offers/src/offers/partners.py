"""What partner systems may call under ``/v1`` (see ``tdu_shared.v1``), with an example each."""

from typing import Any

from tdu_shared.v1 import PartnerOperation

OFFER_EXAMPLE = {
    "id": "ML57-2026-0042",
    "title": "Agent de propreté (H/F)",
    "description": "Entretien de bureaux à Metz, du lundi au vendredi.",
    "rome_code": "K2204",
    "contract_type": "CDI",
    "postal_code": "57000",
    "commune_insee": "57463",
    "lat": 49.1193,
    "lon": 6.1757,
    "employer_name": "NETTOYAGE METZ",
    "contact_email": "recrutement@nettoyage-metz.exemple.fr",
    "positions": 2,
}
OFFER_VIEW_EXAMPLE: dict[str, Any] = {
    "status": "published",
    "withdrawn_reason": None,
    "notes": [],
    "offer": {
        "offer_id": "mission-locale-metz:ML57-2026-0042",
        "source": "partner",
        "revision": 1,
        "title": "Agent de propreté (H/F)",
        "rome_code": "K2204",
        "rome_fiche": "K2204",
        "contract_type": "CDI",
        "contract_eligible": True,
        "employer_name": "NETTOYAGE METZ",
        "place": {
            "postal_code": "57000",
            "commune_insee": "57463",
            "commune_name": "Metz",
            "departement": "57",
            "lat": 49.1193,
            "lon": 6.1757,
            "precision": "exact",
        },
        "region": "44",
        "basin": "4410",
        "positions": 2,
        "updated_at": "2026-12-07T09:00:00Z",
    },
}

OPERATIONS = (
    PartnerOperation(
        "POST",
        "/partners/{partner}/offers",
        request_example=[OFFER_EXAMPLE],
        response_example={"offer_ids": ["mission-locale-metz:ML57-2026-0042"]},
        description="Publish offers of the partner's own feed ({partner} is the key's partner name). "
        "An offer sent again with the same id replaces it; accepted offers are processed within seconds.",
    ),
    PartnerOperation("GET", "/offers/{offer_id}", response_example=OFFER_VIEW_EXAMPLE),
)
