"""Offer files: a JSON array, France Travail response pages ({"resultats": [...]}), or JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Unreadable:
    """A line of a JSON-lines file that is not JSON: it counts as a record, rejected."""

    line: int
    error: str


def read_records(path: Path) -> Iterator[Any]:
    """Every record of the file, in order; an unreadable JSON line yields :class:`Unreadable`."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        yield from _json_lines(text)
        return
    yield from _records_of(document)


def _records_of(document: Any) -> Iterator[Any]:
    if isinstance(document, list):
        for item in document:
            if isinstance(item, dict) and isinstance(item.get("resultats"), list):
                yield from item["resultats"]
            else:
                yield item
    elif isinstance(document, dict) and isinstance(document.get("resultats"), list):
        yield from document["resultats"]
    else:
        yield document


def _json_lines(text: str) -> Iterator[Any]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield from _records_of(json.loads(line))
        except json.JSONDecodeError as exc:
            yield Unreadable(number, f"not JSON: {exc}")
