"""Who may call each operation of the notifications API (see ``tdu_shared.access.policy``)."""

from tdu_shared.access.policy import OPERATOR, Policy, Rule, roles

POLICY = Policy(
    "notifications",
    (
        Rule("GET", "/unsubscribe", public=True, scope="the link's own signature names the person"),
        Rule("POST", "/unsubscribe", public=True, scope="the link's own signature names the person"),
        Rule(
            "POST",
            "/sms/inbound",
            public=True,
            scope="the SMS provider's webhook: its own key (`api-key`, INBOUND_SMS_KEY)",
        ),
        Rule("GET", "/deliveries", roles(OPERATOR), scope="deliveries of the operator's basins"),
        Rule("POST", "/sign-in", public=True, scope="answers the same whether the address is known or not"),
        Rule("POST", "/sign-in/session", public=True, scope="the e-mailed link's single-use token"),
        Rule("GET", "/sign-in/operator", public=True, scope="sends the operator to ProConnect"),
        Rule(
            "GET",
            "/sign-in/operator/callback",
            public=True,
            scope="the identity provider's signed answer; the region's operators list",
        ),
    ),
)
