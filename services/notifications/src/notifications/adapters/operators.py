"""Basin operators: who is told about idle journeys and the like, configured per basin in a YAML file."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import yaml

from notifications.domain.model import Contact, operator_id


def load_operators(path: str | None = None) -> dict[str, Contact]:
    """Operators by person id (``operator:<basin>``): the file given, else the demo file shipped here."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = files("notifications.data").joinpath("operators.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text) or {}
    operators = {}
    for entry in doc.get("operators", []):
        person_id = operator_id(str(entry["basin"]))
        operators[person_id] = Contact(
            person_id=person_id,
            role="basin_operator",
            display_name=entry.get("name"),
            email=entry.get("email"),
            phone=entry.get("phone"),
            consent_email=bool(entry.get("email")),
            consent_sms=bool(entry.get("phone")),
        )
    return operators
