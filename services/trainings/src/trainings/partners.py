"""What partner systems may call under ``/v1`` (see ``tdu_shared.v1``), with an example each."""

from tdu_shared.v1 import PartnerOperation

LHEO_EXAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<lheo xmlns="http://www.lheo.org/2.2"><offres>
<formation numero="F-1"><intitule-formation>Agent de propreté et d'hygiène</intitule-formation>
<action numero="A-1"><session numero="S-1"><periode><debut>20270204</debut><fin>20270604</fin></periode>
</session><organisme-financeur><code-financeur>2</code-financeur></organisme-financeur></action>
</formation></offres></lheo>
"""
SESSION_EXAMPLE = {
    "session_id": "cf-woippy:F-1:A-1:S-1",
    "source": "cf-woippy",
    "revision": 1,
    "formation_id": "F-1",
    "action_id": "A-1",
    "title": "Agent de propreté et d'hygiène",
    "rome_codes": ["K2204"],
    "start_date": "2027-02-04",
    "end_date": "2027-06-04",
    "place": {
        "postal_code": "57140",
        "commune_insee": "57751",
        "commune_name": "Woippy",
        "departement": "57",
        "lat": 49.1519,
        "lon": 6.1516,
        "precision": "exact",
    },
    "region": "44",
    "basin": "4410",
    "provider": {"name": "Centre de formation de Woippy"},
    "funders": ["2"],
    "region_funded": True,
    "funded_places": 12,
}
IMPORTS = "/imports"
PUBLIC_IMPORTS = "/catalogue/imports"

OPERATIONS = (
    PartnerOperation(
        "POST",
        IMPORTS,
        public=PUBLIC_IMPORTS,
        request_example=LHEO_EXAMPLE,
        response_example={
            "source": "carif-grand-est",
            "formations": 1,
            "actions": 1,
            "sessions": 1,
            "funded_sessions": 1,
            "rejected": 0,
            "reasons": {},
            "published": 1,
            "updated": 0,
            "unchanged": 0,
            "withdrawn": 0,
            "complete": True,
        },
        description="Publish a catalogue source's sessions: the LHEO 2.2/2.3 file (request body) is a "
        "snapshot of the source (`source`, which the key must hold: `catalogue:write:<source>`); "
        "sessions it no longer lists are withdrawn, only once the file was read to its end.",
    ),
    PartnerOperation("GET", "/sessions/{session_id:path}", response_example=SESSION_EXAMPLE),
)
