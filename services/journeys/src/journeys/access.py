"""Who may call each operation of the journeys API (see ``tdu_shared.access.policy``).

The roles of each action come from the action's own definition (``domain.transitions.DEFINITIONS``): a
partner key acts where partner systems may, with the capability ``journeys:write`` (``applications:write``
to apply on a seeker's behalf).
"""

from journeys.domain.transitions import DEFINITIONS, Action, ActionDefinition
from journeys.partners import OPERATIONS
from tdu_shared.access.policy import (
    EMPLOYER,
    OPERATOR,
    PARTNER,
    PROVIDER,
    SEEKER,
    Grant,
    Policy,
    Rule,
    partner,
    roles,
)
from tdu_shared.v1 import partner_rules

PARTY_SCOPE = "parties to the journey only; operators and partner keys: journeys of their basins"


def _grants(definition: ActionDefinition) -> frozenset[Grant]:
    capability = "applications:write" if definition.action == Action.SUBMIT_APPLICATION else "journeys:write"
    return frozenset(Grant(role, capability if role == PARTNER else None) for role in definition.roles)


def _actions() -> tuple[Rule, ...]:
    return tuple(
        Rule("POST", f"/journeys/{{journey_id}}/{d.path}", _grants(d), PARTY_SCOPE)
        for d in DEFINITIONS
        if d.path is not None
    )


APPLICATION = next(d for d in DEFINITIONS if d.action == Action.SUBMIT_APPLICATION)
CONTACT_SCOPE = "the person themselves; operators of a basin where the person has a journey"
OPEN_DATA_SCOPE = "monthly counts per region and basin, none below 5 (statistical disclosure control)"

RULES = (
    Rule(
        "POST",
        "/journeys",
        _grants(APPLICATION),
        "a seeker for themselves; operators and partner keys: offers of their basins",
    ),
    *_actions(),
    Rule(
        "GET",
        "/journeys",
        roles(SEEKER, EMPLOYER, PROVIDER, OPERATOR, partner("journeys:read")),
        "parties see their own journeys; operators and partner keys those of their basins",
    ),
    Rule(
        "GET",
        "/journeys/{journey_id}",
        roles(SEEKER, EMPLOYER, PROVIDER, OPERATOR, partner("journeys:read")),
        PARTY_SCOPE,
    ),
    Rule(
        "GET",
        "/journeys/{journey_id}/applicant",
        roles(SEEKER, EMPLOYER, OPERATOR),
        "the employer of the offer applied to, the seeker; operators of its basin (in the audit log)",
    ),
    Rule("GET", "/kpis", roles(OPERATOR, partner("kpis:read")), "the caller's basins (or the region)"),
    Rule("GET", "/contacts/{person_id}", roles(SEEKER, EMPLOYER, PROVIDER, OPERATOR), CONTACT_SCOPE),
    Rule("PATCH", "/contacts/{person_id}", roles(SEEKER, EMPLOYER, PROVIDER, OPERATOR), CONTACT_SCOPE),
    Rule("DELETE", "/contacts/{person_id}", roles(SEEKER, EMPLOYER, PROVIDER, OPERATOR), CONTACT_SCOPE),
    Rule("GET", "/audit", roles(OPERATOR), "entries about people with a journey in the operator's basins"),
    Rule("GET", "/partner-keys", roles(OPERATOR), "keys valid in the operator's basins, secrets never"),
    *(
        Rule("GET", f"/open-data/{name}", public=True, scope=OPEN_DATA_SCOPE)
        for name in ("schema.json", "latest.csv", "latest.json", "{month}.csv", "{month}.json")
    ),
)
POLICY = Policy("journeys", (*RULES, *partner_rules(RULES, OPERATIONS)))
