"""Who may call each operation of the trainings API (see ``tdu_shared.access.policy``)."""

from tdu_shared.access.policy import OPERATOR, Policy, Rule, partner, roles
from tdu_shared.v1 import partner_rules
from trainings.partners import OPERATIONS

RULES = (
    Rule("GET", "/sessions", public=True, scope="public catalogue, no personal data"),
    Rule("GET", "/sessions/{session_id}", public=True, scope="public catalogue, no personal data"),
    Rule(
        "POST",
        "/imports",
        roles(partner("catalogue:write"), OPERATOR),
        scope="a partner key imports only the sources it holds (`catalogue:write:<source>`, or all)",
    ),
)
POLICY = Policy("trainings", (*RULES, *partner_rules(RULES, OPERATIONS)))
