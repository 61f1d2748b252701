"""Who may call each operation of the matching API (see ``tdu_shared.access.policy``)."""

from matching.partners import OPERATIONS
from tdu_shared.access.policy import Policy, Rule
from tdu_shared.v1 import partner_rules

RULES = (
    Rule("GET", "/search", public=True, scope="public offers and sessions, no personal data"),
    Rule("GET", "/search/offers/{offer_id}", public=True, scope="public offer and sessions"),
)
POLICY = Policy("matching", (*RULES, *partner_rules(RULES, OPERATIONS)))
