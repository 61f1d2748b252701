"""Every template renders, in French, for every audience, with its links; SMS fit in 160 GSM-7 septets."""

from __future__ import annotations

import pytest

from notifications.adapters.rendering import EXAMPLE_FACTS, JinjaRenderer
from notifications.domain.model import Audience
from notifications.domain.routing import all_templates
from notifications.domain.sms import septets, split_sms

CONTEXT = {
    **EXAMPLE_FACTS,
    "position": "Soudeur TIG",
    "contract_type": "CDD",
    "contract_months": 9,
    "months": 12,
    "employed": False,
    "outcome": "negative",
    "reminder_kind": "employer_no_answer_10d",
    "journey_url": "https://app.test/parcours/J-1",
    "unsubscribe_url": "https://notif.test/unsubscribe?token=t",
}


@pytest.mark.parametrize("template", sorted(all_templates()))
@pytest.mark.parametrize("audience", [a.value for a in Audience])
def test_template_renders_subject_text_html_and_sms(template: str, audience: str) -> None:
    renderer = JinjaRenderer()
    context = {**CONTEXT, "audience": audience}
    email = renderer.email(template, context)
    assert email.subject and "\n" not in email.subject
    assert email.text.startswith("Bonjour Camille,")
    assert "https://app.test/parcours/J-1" in email.text
    assert "https://notif.test/unsubscribe?token=t" in email.text
    assert '<a href="https://notif.test/unsubscribe?token=t">' in email.html
    parts = split_sms(renderer.sms(template, context))
    assert all(septets(p) <= 160 for p in parts)


def test_html_escapes_what_people_typed() -> None:
    email = JinjaRenderer().email(
        "candidature_declinee", {**CONTEXT, "audience": "seeker", "reason": "<script>alert(1)</script>"}
    )
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
