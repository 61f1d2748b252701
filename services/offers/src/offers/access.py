"""Who may call each operation of the offers API (see ``tdu_shared.access.policy``)."""

from offers.partners import OPERATIONS
from tdu_shared.access.policy import EMPLOYER, OPERATOR, Policy, Rule, partner, roles
from tdu_shared.v1 import partner_rules

RULES = (
    Rule("GET", "/offers", public=True, scope="public offers, no personal data"),
    Rule("GET", "/offers/{offer_id}", public=True, scope="public offer, no personal data"),
    Rule(
        "POST",
        "/partners/{partner}/offers",
        roles(partner("offers:write"), OPERATOR),
        scope="a partner key sends only its own feed ({partner} is the key's partner)",
    ),
    Rule(
        "POST",
        "/employer-offers",
        roles(EMPLOYER, partner("offers:write"), OPERATOR),
        scope="an employer's offer has the signed-in employer's e-mail as contact address",
    ),
    Rule("POST", "/blacklist", roles(OPERATOR), scope="operators of the region"),
)
POLICY = Policy("offers", (*RULES, *partner_rules(RULES, OPERATIONS)))
