"""Basin operators: who is told about idle journeys and the like, configured per basin in a YAML file."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from notifications.domain.model import Contact, operator_id


def _document(path: str | None) -> dict[str, Any]:
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = files("notifications.data").joinpath("operators.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text) or {})


def load_agents(path: str | None = None) -> dict[str, frozenset[str] | None]:
    """Who may sign in as an operator: e-mail (lower case) -> their basins (None: every basin)."""
    doc = _document(path)
    agents: dict[str, frozenset[str] | None] = {
        str(e).strip().lower(): None for e in doc.get("region_agents") or ()
    }
    for entry in doc.get("operators", []):
        for email in entry.get("agents") or ():
            key = str(email).strip().lower()
            if key in agents and agents[key] is None:
                continue  # a region-wide operator already
            agents[key] = frozenset(agents.get(key) or ()) | {str(entry["basin"])}
    return agents


def load_operators(path: str | None = None) -> dict[str, Contact]:
    """Operators by person id (``operator:<basin>``): the file given, else the demo file shipped here."""
    doc = _document(path)
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
