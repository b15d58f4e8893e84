"""The hand-written OpenAPI document agrees with itself and with the code.

Every example is checked against its own schema by a JSON Schema validator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from masstock.api.errors import STATUS
from masstock.api.openapi import build_document
from masstock.domain import errors

Json = dict[str, Any]

DOCUMENT = build_document()


def _violations(value: object, schema: Json) -> list[str]:
    """What makes ``value`` break ``schema``, one line per rule broken.

    The schema is checked as JSON Schema 2020-12, the dialect of OpenAPI 3.1,
    inside the document so that its references resolve; formats are asserted.
    """
    validator = jsonschema_rs.Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]}, validate_formats=True
    )
    return [error.message for error in validator.iter_errors(value)]


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
    assert _violations(value, schema) == [], where


def test_every_reference_resolves_to_a_component() -> None:
    text = repr(DOCUMENT)

    names = set(re.findall(r"#/components/schemas/(\w+)", text))

    assert names == set(DOCUMENT["components"]["schemas"])


def test_every_operation_has_a_unique_id_and_the_contract_tag() -> None:
    operations = [operation for _where, operation in _operations()]

    ids = [operation["operationId"] for operation in operations]

    assert len(set(ids)) == len(ids)
    assert {"cancelReservation", "createReservation", "getDevice"} <= set(ids)
    assert all(operation["tags"] == ["Stock Reservations"] for operation in operations)


def test_every_error_the_domain_raises_is_documented_with_its_status() -> None:
    documented = {(status, body["code"]) for status, body in _error_examples()}

    expected = {(str(STATUS.get(error, 500)), error.code) for error in _codes_raised()}

    assert expected - documented == set()


def test_every_documented_error_body_is_one_the_service_can_send() -> None:
    known = {error.code for error in _codes_raised()} | {
        "PAYLOAD_TOO_LARGE",
        "HEADERS_TOO_LARGE",
    }

    documented = {body["code"] for _status, body in _error_examples()}

    assert documented <= known
