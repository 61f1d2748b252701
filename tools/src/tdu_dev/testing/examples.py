"""A valid example of any contract, built from its fields, so every registered contract is tested."""

from __future__ import annotations

import types
import typing
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin
from uuid import UUID

from annotated_types import Ge, Gt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

SPECIAL = {
    "postal_code": "57000",
    "email": "someone@example.org",
    "phone": "+33612345678",
    "key_id": "0123456789abcdef",
    "region": "44",
    "partner": "france-travail",
    "secret_sha256": "ab" * 32,
}


def example(model: type[BaseModel]) -> BaseModel:
    values = {name: _value(name, field.annotation, field) for name, field in model.model_fields.items()}
    return model(**values)


def _value(name: str, annotation: Any, field: FieldInfo | None = None) -> Any:
    if name in SPECIAL:
        return SPECIAL[name]
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return _value(name, next(a for a in get_args(annotation) if a is not type(None)), field)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin is list:
        return [_value(name, get_args(annotation)[0])]
    if origin is dict:
        return {"id": "123ABC"}
    if origin is typing.Annotated:
        return _value(name, get_args(annotation)[0], field)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return example(annotation).model_dump()
        if issubclass(annotation, Enum):
            return next(iter(annotation))
        if annotation is bool:
            return True
        if annotation in (int, float):
            return annotation(_lower_bound(field) + 1)
        if annotation is str:
            return f"{name}-1"
        if annotation is datetime:
            return datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
        if annotation is date:
            return date(2027, 1, 4)
        if annotation is UUID:
            return UUID("12345678-1234-5678-1234-567812345678")
    if "AwareDatetime" in repr(annotation):
        return datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    raise TypeError(f"no example for {name}: {annotation!r}")


def _lower_bound(field: FieldInfo | None) -> float:
    for m in field.metadata if field else ():
        if isinstance(m, Ge):
            return float(m.ge)  # type: ignore[arg-type]
        if isinstance(m, Gt):
            return float(m.gt)  # type: ignore[arg-type]
    return 0
