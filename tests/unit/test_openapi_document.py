"""The hand-written OpenAPI document agrees with itself and with the code.

No JSON Schema library is installed, so the examples are checked by a small
validator of the few keywords the document uses; a test makes sure it uses
no others, so that nothing is skipped unseen.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from masstock.api.errors import STATUS
from masstock.api.openapi import build_document
from masstock.domain import errors

Json = dict[str, Any]

DOCUMENT = build_document()

KEYWORDS = {
    "$ref",
    "type",
    "properties",
    "required",
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "description",
}
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "null": (type(None),),
}


def _resolve(schema: Json) -> Json:
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = DOCUMENT["components"]["schemas"][name]
    return schema


def _violations(value: object, schema: Json, *, where: str = "$") -> list[str]:
    """What makes ``value`` break ``schema``, one line per rule broken."""
    schema = _resolve(schema)
    names = schema.get("type", [])
    names = [names] if isinstance(names, str) else names
    if names and not any(
        isinstance(value, TYPES[name])
        and not (name != "boolean" and isinstance(value, bool))
        for name in names
    ):
        return [f"{where}: {value!r} is not of type {names}"]

    found = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        found.extend(_string_violations(value, schema, where=where))
    if isinstance(value, dict):
        found.extend(
            f"{where}: {name} is required"
            for name in schema.get("required", [])
            if name not in value
        )
        for name, item in value.items():
            if name in schema.get("properties", {}):
                found.extend(
                    _violations(
                        item, schema["properties"][name], where=f"{where}.{name}"
                    )
                )
    return found


def _string_violations(value: str, schema: Json, *, where: str) -> Iterator[str]:
    if len(value) < schema.get("minLength", 0):
        yield f"{where}: {value!r} is too short"
    if len(value) > schema.get("maxLength", len(value)):
        yield f"{where}: {value!r} is too long"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{where}: {value!r} does not match {schema['pattern']}"
    if schema.get("format") == "uuid" and str(_uuid_or_none(value)) != value.lower():
        yield f"{where}: {value!r} is not a UUID"


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _operations() -> Iterator[tuple[str, Json]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def _examples(media: Json) -> Iterator[tuple[str, object]]:
    if "example" in media:
        yield "example", media["example"]
    for name, example in media.get("examples", {}).items():
        yield name, example["value"]


def _every_example() -> Iterator[tuple[str, object, Json]]:
    for where, operation in _operations():
        for parameter in operation.get("parameters", []):
            yield (
                f"{where} parameter {parameter['name']}",
                parameter["example"],
                parameter["schema"],
            )
        body = operation.get("requestBody", {}).get("content", {})
        for media in body.values():
            for name, value in _examples(media):
                yield f"{where} request {name}", value, media["schema"]
        for status, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                for name, value in _examples(media):
                    yield f"{where} {status} {name}", value, media["schema"]


def _schemas_in(node: object) -> Iterator[Json]:
    if isinstance(node, dict):
        if "schema" in node:
            yield from _subschemas(node["schema"])
        for key, value in node.items():
            if key != "schema":
                yield from _schemas_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schemas_in(value)


def _subschemas(schema: Json) -> Iterator[Json]:
    yield schema
    for nested in schema.get("properties", {}).values():
        yield from _subschemas(nested)


def _error_examples() -> Iterator[tuple[str, Json]]:
    for _where, operation in _operations():
        for status, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                for _name, value in _examples(media):
                    if isinstance(value, dict) and "code" in value:
                        yield status, value


def _codes_raised() -> Iterator[type[errors.MasstockError]]:
    """The domain's errors: those the API can answer with."""
    pending = [errors.MasstockError]
    while pending:
        error = pending.pop()
        if error.__module__ == errors.__name__:
            yield error
        pending.extend(error.__subclasses__())


EXAMPLES = list(_every_example())


def test_the_checker_knows_every_keyword_the_document_uses() -> None:
    schemas = [
        *_schemas_in(DOCUMENT["paths"]),
        *(
            nested
            for schema in DOCUMENT["components"]["schemas"].values()
            for nested in _subschemas(schema)
        ),
    ]

    unknown = {key for schema in schemas for key in schema} - KEYWORDS

    assert unknown == set()
    assert len(schemas) > 20


def test_the_checker_catches_a_broken_example() -> None:
    wrong = {"device_id": "DEVICE 123", "dealer_id": None, "is_sim": "yes"}
    schema = {"$ref": "#/components/schemas/ReservationRequest"}

    found = _violations(wrong, schema)

    assert len(found) == 3


@pytest.mark.parametrize(
    ("where", "value", "schema"), EXAMPLES, ids=[where for where, *_ in EXAMPLES]
)
def test_each_example_validates_against_its_own_schema(
    where: str, value: object, schema: Json
) -> None:
    assert _violations(value, schema, where=where) == []


def test_every_reference_resolves_to_a_component() -> None:
    text = repr(DOCUMENT)

    names = set(re.findall(r"#/components/schemas/(\w+)", text))

    assert names == set(DOCUMENT["components"]["schemas"])


def test_every_operation_has_a_unique_id_and_the_contract_tag() -> None:
    operations = [operation for _where, operation in _operations()]

    ids = [operation["operationId"] for operation in operations]

    assert sorted(ids) == ["cancelReservation", "createReservation", "getDevice"]
    assert all(operation["tags"] == ["Stock Reservations"] for operation in operations)


def test_every_error_the_domain_raises_is_documented_with_its_status() -> None:
    documented = {(status, body["code"]) for status, body in _error_examples()}

    expected = {(str(STATUS.get(error, 500)), error.code) for error in _codes_raised()}

    assert expected - documented == set()


def test_every_documented_error_body_is_one_the_service_can_send() -> None:
    known = {error.code for error in _codes_raised()} | {"PAYLOAD_TOO_LARGE"}

    documented = {body["code"] for _status, body in _error_examples()}

    assert documented <= known
