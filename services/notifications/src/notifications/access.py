"""Who may call each operation of the notifications API (see ``tdu_shared.access.policy``)."""

from tdu_shared.access.policy import OPERATOR, Policy, Rule, partner, roles

WEBHOOKS = roles(partner("webhooks:write"))
OWN = "the key's own partner's subscriptions only (another's: 404)"

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
        Rule(
            "POST",
            "/v1/webhooks",
            WEBHOOKS,
            scope="for the key's partner, basins among the key's; a public https callback URL",
        ),
        Rule("GET", "/v1/webhooks", WEBHOOKS, scope=OWN),
        Rule("GET", "/v1/webhooks/{subscription_id}", WEBHOOKS, scope=OWN),
        Rule("DELETE", "/v1/webhooks/{subscription_id}", WEBHOOKS, scope=OWN),
        Rule("POST", "/v1/webhooks/{subscription_id}/secret", WEBHOOKS, scope=OWN),
        Rule("GET", "/v1/webhooks/{subscription_id}/deliveries", WEBHOOKS, scope=OWN),
        Rule("POST", "/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/replay", WEBHOOKS, scope=OWN),
        Rule("POST", "/v1/webhooks/{subscription_id}/resume", WEBHOOKS, scope=OWN),
    ),
)
