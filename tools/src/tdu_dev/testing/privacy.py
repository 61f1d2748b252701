"""Where personal data still shows: every collection of every service's database, read whole."""

from __future__ import annotations

import json
import re
from typing import Any

from pymongo import MongoClient

from tdu_dev.infra.platform import SERVICES, Platform


def personal_data_left(platform: Platform, needles: list[str]) -> dict[str, int]:
    """``<database>.<collection>`` (the run's prefix left out) → how many of its documents hold any of
    ``needles`` (case-insensitive); only collections with some, in every database of the services. A
    scan of everything: for checks after a run, not for a hot path."""
    if not needles:
        return {}
    pattern = re.compile("|".join(re.escape(n.lower()) for n in needles))
    client: MongoClient[dict[str, Any]] = MongoClient(platform.endpoints.mongodb_url)
    found: dict[str, int] = {}
    try:
        databases = client.list_database_names()
        for service in SERVICES:
            own = f"{platform.database_prefix}{service}"  # and its siblings (journeys' read models)
            for database in (d for d in databases if d == own or d.startswith(f"{own}_")):
                db = client[database]
                for name in db.list_collection_names():
                    label = f"{database.removeprefix(platform.database_prefix)}.{name}"
                    for doc in db[name].find({}):
                        if pattern.search(json.dumps(doc, default=str, ensure_ascii=False).lower()):
                            found[label] = found.get(label, 0) + 1
    finally:
        client.close()
    return found
