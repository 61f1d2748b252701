"""What partner systems may call under ``/v1`` (see ``tdu_shared.v1``), with an example each."""

from tdu_shared.v1 import PartnerOperation

RESULT_EXAMPLE = {
    "offer": {
        "offer_id": "FT:190XKWL",
        "title": "Agent de propreté (H/F)",
        "rome_code": "K2204",
        "rome_fiche": "K2204",
        "contract_type": "CDI",
        "employer_name": "NETTOYAGE METZ",
        "commune_insee": "57463",
        "commune_name": "Metz",
        "lat": 49.108,
        "lon": 6.195,
        "basin": "4410",
    },
    "distance_km": 1.9,
    "session_count": 1,
    "sessions": [
        {
            "session_id": "carif-grand-est:F-1:A-1:S-1",
            "title": "Agent de propreté et d'hygiène",
            "distance_km": 4.0,
            "start_date": "2027-02-04",
            "end_date": "2027-06-04",
            "provider_name": "Centre de formation de Woippy",
            "commune_name": "Woippy",
            "lat": 49.152,
            "lon": 6.152,
            "entry_level": "0",
            "funded_places": 12,
        }
    ],
}

OPERATIONS = (
    PartnerOperation(
        "GET",
        "/search",
        response_example={
            "origin": {"lat": 49.1193, "lon": 6.1757, "radius_km": 30, "commune_insee": "57463"},
            "offset": 0,
            "limit": 20,
            "has_more": False,
            "results": [RESULT_EXAMPLE],
        },
        description="Offers near a place (commune, postal code or lat/lon) that come with a region-funded "
        "training, nearest first; the next page: `offset` + `limit` while `has_more`.",
    ),
    PartnerOperation("GET", "/search/offers/{offer_id}", response_example=RESULT_EXAMPLE),
)
