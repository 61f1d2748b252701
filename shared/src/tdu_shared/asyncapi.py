"""The AsyncAPI document of every platform topic and contract, generated from the code.

    uv run tdu-asyncapi --out docs/asyncapi.json        # or: faststream docs gen tdu_shared.asyncapi:app

Each service also serves its own document at /asyncapi (HTML) and /asyncapi.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Union

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

import tdu_shared.contracts  # noqa: F401  (registers every contract)
from tdu_shared.envelope import Envelope, model_for
from tdu_shared.topics import ALL_TOPICS, TopicSpec

VERSION = "0.1.0"


def _schema_of(spec: TopicSpec) -> Any:
    envelopes = tuple(Envelope[model_for(t)] for t in spec.event_types)  # type: ignore[misc]
    return envelopes[0] if len(envelopes) == 1 else Union[envelopes]  # noqa: UP007


def contracts_broker() -> KafkaBroker:
    broker = KafkaBroker("kafka:9092", description="Trait d'Union platform topics")
    for spec in ALL_TOPICS:
        broker.publisher(
            spec.name, schema=_schema_of(spec), description=spec.description, title=f"{spec.name}:publish"
        )
    return broker


broker = contracts_broker()
app = FastStream(
    broker,
    specification=AsyncAPI(
        title="Trait d'Union events",
        version=VERSION,
        description="Every topic of the platform with the envelope and payload of each event it carries. "
        "Compacted topics are keyed by entity id; every topic has a '<topic>.dlq' twin.",
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Write the AsyncAPI 3.0 document of the platform's contracts."
    )
    parser.add_argument("--out", type=Path, default=None, help="file to write (default: standard output)")
    args = parser.parse_args()
    assert app.schema is not None
    text = json.dumps(app.schema.to_specification().to_jsonable(), indent=2, ensure_ascii=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
