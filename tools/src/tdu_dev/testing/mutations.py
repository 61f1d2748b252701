"""Hypothesis strategies that damage real records the way real inputs are damaged, for robustness tests.

``mutated_json`` takes real JSON records (France Travail offers, partner offers, event envelopes) and
drops, replaces or adds fields anywhere in them, with values of the wrong type, empty, huge, or odd
Unicode; ``mutated_xml`` cuts, deletes elements from, rewrites the text of, or flips bytes in a real XML
file (an LHEO catalogue). Only tests import this module (hypothesis is a development dependency).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from typing import Any

from hypothesis import strategies as st

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ufeff",
        "é" * 3000,
        "9" * 400,
        "-1",
        "1e309",
        "2024-13-45T99:99:99Z",
        "<b>&amp;",
        "null",
    ]
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | ODD_TEXT
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)
"""Any JSON value, biased to the ones that break parsers."""


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _container(record: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        record = record[key]
    return record


@st.composite
def mutated_json(draw: st.DrawFn, originals: Sequence[Any], max_changes: int = 5) -> Any:
    """One of ``originals``, changed in 1 to ``max_changes`` places (or replaced by any JSON value)."""
    record = copy.deepcopy(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, max_changes))):
        paths = list(_paths(record))
        if not paths:
            return draw(VALUES)
        path = draw(st.sampled_from(paths))
        parent, key = _container(record, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            parent[key] = draw(VALUES)
        elif action == "drop":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(VALUES)
        else:
            parent.append(draw(VALUES))
    return record


_ELEMENT = re.compile(rb"<([A-Za-z][\w-]*)[^>]*>[^<]*</\1>")


@st.composite
def mutated_xml(draw: st.DrawFn, original: bytes, max_changes: int = 3) -> bytes:
    """``original`` cut short, with elements removed or their text replaced, or with bytes flipped."""
    data = original
    for _ in range(draw(st.integers(1, max_changes))):
        action = draw(st.sampled_from(["cut", "drop_element", "rewrite_text", "flip"]))
        elements = list(_ELEMENT.finditer(data))
        if action == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif action in ("drop_element", "rewrite_text") and elements:
            found = draw(st.sampled_from(elements))
            if action == "drop_element":
                data = data[: found.start()] + data[found.end() :]
            else:
                name = found.group(1)
                text = draw(ODD_TEXT | st.text(max_size=40)).encode()
                text = text.replace(b"&", b"&amp;").replace(b"<", b"&lt;")
                data = (
                    data[: found.start()]
                    + b"<"
                    + name
                    + b">"
                    + text
                    + b"</"
                    + name
                    + b">"
                    + data[found.end() :]
                )
        elif data:
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data
