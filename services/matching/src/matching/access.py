"""Who may call each operation of the matching API (see ``tdu_shared.access.policy``)."""

from tdu_shared.access.policy import Policy, Rule

POLICY = Policy(
    "matching",
    (
        Rule("GET", "/search", public=True, scope="public offers and sessions, no personal data"),
        Rule("GET", "/search/offers/{offer_id}", public=True, scope="public offer and sessions"),
    ),
)
