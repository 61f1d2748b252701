"""What partner systems may call under ``/v1`` (see ``tdu_shared.v1``), with an example each: apply on a
seeker's behalf (with the seeker's consent), read and act on the journeys of their basins, read KPIs."""

from typing import Any

from journeys.domain.transitions import DEFINITIONS
from tdu_shared.access.policy import PARTNER
from tdu_shared.v1 import PartnerOperation

JOURNEY_EXAMPLE: dict[str, Any] = {
    "journey_id": "9b2f6c1e-5d1a-4c36-9a57-1f1f0c1b7e42",
    "revision": 2,
    "state": "immersion_scheduled",
    "offer_id": "FT:190XKWL",
    "offer_title": "Agent de propreté (H/F)",
    "region": "44",
    "basin": "4410",
    "seeker_id": "p-3f9c2a7d41e84b0c",
    "employer_id": "p-8d1e5b20c7a94f36",
    "session_id": None,
    "provider_id": None,
    "immersion_starts_on": "2026-12-14",
    "immersion_ends_on": "2026-12-16",
    "immersion_place": "12 rue Serpenoise, Metz",
    "immersion_outcome": None,
    "promise_signed": False,
    "commitment_signed": False,
    "planned_start": None,
    "training_started_on": None,
    "training_completed_on": None,
    "contract_start": None,
    "contract_type": None,
    "contract_months": None,
    "follow_ups": {},
    "abandoned_at_step": None,
    "abandon_reason": None,
    "abandoned_by": None,
    "created_at": "2026-12-07T09:12:03Z",
    "updated_at": "2026-12-08T14:40:51Z",
    "history": [
        {
            "at": "2026-12-07T09:12:03Z",
            "action": "SubmitApplication",
            "from_state": None,
            "to_state": "applied",
            "actor_role": "partner_system",
            "actor_id": "mission-locale-metz",
            "details": {},
        },
        {
            "at": "2026-12-08T14:40:51Z",
            "action": "ScheduleImmersion",
            "from_state": "applied",
            "to_state": "immersion_scheduled",
            "actor_role": "partner_system",
            "actor_id": "mission-locale-metz",
            "details": {"starts_on": "2026-12-14", "ends_on": "2026-12-16"},
        },
    ],
    "allowed_actions": ["RescheduleImmersion", "RecordImmersionOutcome", "AbandonJourney"],
    "replayed": False,
}
ACTION_EXAMPLES: dict[str, dict[str, Any]] = {
    "decline": {"command_id": "ml57-decline-1", "reason": "Poste pourvu en interne"},
    "schedule-immersion": {
        "command_id": "ml57-immersion-1",
        "starts_on": "2026-12-14",
        "ends_on": "2026-12-16",
        "place": "12 rue Serpenoise, Metz",
    },
    "reschedule-immersion": {
        "command_id": "ml57-immersion-2",
        "starts_on": "2026-12-21",
        "ends_on": "2026-12-23",
        "place": "12 rue Serpenoise, Metz",
        "reason": "Tuteur absent la semaine prévue",
    },
    "immersion-outcome": {"command_id": "ml57-outcome-1", "outcome": "positive"},
    "hiring-promise": {
        "command_id": "ml57-promise-1",
        "contract_type": "CDI",
        "planned_start": "2027-06-07",
        "position": "Agent de propreté",
    },
    "training-commitment": {"command_id": "ml57-commitment-1", "session_id": "carif-grand-est:F-1:A-1:S-1"},
    "training-start": {"command_id": "ml57-start-1", "started_on": "2027-02-04"},
    "training-completion": {"command_id": "ml57-end-1", "completed_on": "2027-06-04", "certified": True},
    "hire": {"command_id": "ml57-hire-1", "contract_start": "2027-06-07", "contract_type": "CDI"},
    "follow-up": {"command_id": "ml57-follow-1", "months": 6, "employed": True},
    "abandon": {"command_id": "ml57-abandon-1", "reason": "Le candidat a trouvé un autre emploi"},
}
APPLICATION_EXAMPLE = {
    "command_id": "ml57-apply-1",
    "offer_id": "FT:190XKWL",
    "first_name": "Camille",
    "last_name": "Martin",
    "email": "camille.martin@exemple.fr",
    "phone": "0612345678",
    "postal_code": "57000",
    "education_level": "3",
    "jobseeker_status": "A",
    "consent_email": True,
    "consent_sms": False,
    "message": "Bonjour, je suis très intéressée par ce poste.",
}
KPIS_EXAMPLE = {
    "period": {"from": "2026-01-01T00:00:00+00:00", "to": "2026-12-08T00:00:00+00:00"},
    "region": {"code": "44", "journeys": 1},
    "basins": {"4410": {"journeys": 1, "states": {"hired": 1}, "promises_signed": 1, "hires": 1}},
}

OPERATIONS = (
    PartnerOperation(
        "POST",
        "/journeys",
        request_example=APPLICATION_EXAMPLE,
        response_example={**JOURNEY_EXAMPLE, "state": "applied", "allowed_actions": []},
        description="Apply on behalf of a seeker who consented (an adviser's tool, a Mission Locale): the "
        "seeker's profile and their consent to be contacted by e-mail and SMS. Idempotent: the same "
        "`command_id` (or `Idempotency-Key`) answers 200 with the same journey.",
    ),
    PartnerOperation(
        "GET",
        "/journeys",
        response_example={
            "items": [JOURNEY_EXAMPLE],
            "total": 1,
            "page": 1,
            "page_size": 50,
            "next_cursor": None,
        },
        description="The journeys of the key's basins, newest first; the next page: `cursor=<next_cursor>`.",
    ),
    PartnerOperation("GET", "/journeys/{journey_id}", response_example=JOURNEY_EXAMPLE),
    *(
        PartnerOperation(
            "POST",
            f"/journeys/{{journey_id}}/{d.path}",
            request_example=ACTION_EXAMPLES[d.path],
            response_example=JOURNEY_EXAMPLE,
        )
        for d in DEFINITIONS
        if d.path is not None and PARTNER in d.roles
    ),
    PartnerOperation("GET", "/kpis", response_example=KPIS_EXAMPLE),
)
