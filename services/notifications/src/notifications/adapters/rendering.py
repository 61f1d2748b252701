"""French message templates (Jinja2): one file per template with subject, body and SMS blocks."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from notifications.ports import RenderedEmail

URL = re.compile(r"(https?://\S+)")
EXAMPLE_FACTS: dict[str, Any] = {
    "recipient_name": "Camille",
    "offer_title": "Soudeur / Soudeuse",
    "reason": "poste pourvu",
    "starts_on": "2026-12-01",
    "ends_on": "2026-12-03",
    "place": "Metz",
    "position": "Soudeur",
    "contract_type": "CDI",
    "contract_months": None,
    "planned_start": "2027-06-01",
    "started_on": "2027-01-04",
    "completed_on": "2027-05-28",
    "certified": True,
    "contract_start": "2027-06-01",
    "months": 6,
    "employed": True,
    "outcome": "positive",
    "due_on": "2026-12-01",
    "session_id": "S1",
    "basin": "4410",
    "journey_id": "J-1",
    "reminder_kind": "follow_up_6m",
}
"""What an event gives a template, with example values (to proofread the texts, and in tests)."""


def french_date(value: object) -> str:
    """'2026-12-01' or a date -> '01/12/2026'; anything else as it is."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10]).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return value.strftime("%d/%m/%Y") if isinstance(value, date) else str(value)


class JinjaRenderer:
    def __init__(self) -> None:
        loader = PackageLoader("notifications", "templates")
        self._text = Environment(
            loader=loader, autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False
        )
        self._html = Environment(loader=loader, autoescape=select_autoescape(default=True))
        for env in (self._text, self._html):
            env.filters["jour"] = french_date

    def _part(self, template: str, part: str, context: dict[str, Any]) -> str:
        defaults = {
            "recipient_name": None,
            "offer_title": None,
            "session_id": None,
            "due_on": None,
            "contract_months": None,
            "certified": None,
        }
        return self._text.get_template(f"{template}.j2").render({**defaults, **context, "part": part}).strip()

    def email(self, template: str, context: dict[str, Any]) -> RenderedEmail:
        subject = " ".join(self._part(template, "subject", context).split())
        text = self._part(template, "text", context)
        paragraphs = [
            [
                {"url": piece} if URL.fullmatch(piece) else {"text": piece}
                for piece in URL.split(block)
                if piece
            ]
            for block in text.split("\n\n")
            if block.strip()
        ]
        html = self._html.get_template("_layout.html.j2").render(
            subject=subject, paragraphs=paragraphs, unsubscribe_url=context["unsubscribe_url"]
        )
        return RenderedEmail(subject=subject, text=text + "\n", html=html)

    def sms(self, template: str, context: dict[str, Any]) -> str:
        return self._part(template, "sms", context)
