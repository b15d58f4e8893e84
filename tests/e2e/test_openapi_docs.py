"""The OpenAPI document and the interactive docs, from a running server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from html.parser import HTMLParser
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute

from masstock.adapters.metrics import Metrics
from masstock.api.app import create_app
from masstock.api.docs import swagger_ui_static
from masstock.api.errors import STATUS
from masstock.api.services import Services
from masstock.domain import errors

Json = dict[str, Any]

CONTRACT_ID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def _error(code: str, message: str, details: str | None = None) -> Json:
    return {"code": code, "message": message, "details": details}


INTERNAL = _error("INTERNAL_ERROR", "Internal server error")

# The seed's responses: operation, status, the line it renders, its example.
CONTRACT_RESPONSES: list[tuple[str, int, str, Json | None]] = [
    ("createReservation", 200, "OK Success", {"reservation_id": CONTRACT_ID}),
    (
        "createReservation",
        400,
        "Bad Request Bad Request - Missing mandatory fields, validation error, "
        "or device validation failure",
        _error("VALIDATION_ERROR", "dealer_id is required"),
    ),
    (
        "createReservation",
        404,
        "Not Found Not Found - Device not found in external systems",
        _error("NOT_FOUND", "device_id not found"),
    ),
    (
        "createReservation",
        409,
        "Conflict Conflict - Reservation already exists for this device with "
        "CREATED status",
        {
            "code": "RESERVATION_CONFLICT",
            "message": "Reservation already exists for device DEVICE123 with "
            "status CREATED, created by dealer DEALER001",
            "device_id": "DEVICE123",
            "dealer_id": "DEALER001",
            "status": "CREATED",
        },
    ),
    ("createReservation", 500, "Internal Server Error Internal Server Error", INTERNAL),
    (
        "createReservation",
        503,
        "Service Unavailable Service Unavailable - Database persistence error",
        _error(
            "DATABASE_ERROR",
            "Unable to persist reservation data",
            "The reservation could not be saved to the database. "
            "Please try again later.",
        ),
    ),
    (
        "cancelReservation",
        200,
        "OK Success - Reservation cancelled successfully",
        None,
    ),
    (
        "cancelReservation",
        400,
        "Bad Request Bad Request - Dealer cannot cancel reservation created by "
        "another dealer",
        _error(
            "DEALER_MISMATCH",
            "Dealer DEALER002 cannot cancel reservation created by dealer DEALER001",
        ),
    ),
    (
        "cancelReservation",
        404,
        "Not Found Not Found - Reservation not found",
        _error("RESERVATION_NOT_FOUND", f"Reservation with ID {CONTRACT_ID} not found"),
    ),
    ("cancelReservation", 500, "Internal Server Error Internal Server Error", INTERNAL),
    (
        "getDevice",
        200,
        "OK Success - Device information retrieved",
        {"reference": "REF123456", "mac": "00:1A:2B:3C:4D:5E"},
    ),
    (
        "getDevice",
        404,
        "Not Found Not Found - Device not found",
        _error("DEVICE_NOT_FOUND", "Device with identifier DEVICE123456 not found"),
    ),
    ("getDevice", 500, "Internal Server Error Internal Server Error", INTERNAL),
]

CONTRACT_OPERATIONS = {
    "createReservation": (
        "post",
        "/v1/orgs/{org}/reservation",
        "Creates a new reservation for a device",
    ),
    "cancelReservation": (
        "post",
        "/v1/orgs/{org}/reservation/{reservation_id}/cancellation",
        "Cancels an existing reservation by its ID. Validates that the dealer "
        "requesting cancellation matches the dealer who created the reservation.",
    ),
    "getDevice": (
        "get",
        "/v1/orgs/{org}/device",
        "Retrieves device information by identifier",
    ),
}

CONTRACT_REQUESTS = {
    "createReservation": (
        "Reservation request with device details",
        {"device_id": "DEVICE123456", "dealer_id": "DEALER001", "is_sim": True},
        {
            "device_id": "Device identifier",
            "dealer_id": "Dealer identifier",
            "is_sim": "Indicates if the reservation is for a SIM card",
        },
    ),
    "cancelReservation": (
        "Cancellation request with dealer information",
        {"dealer": "DEALER001"},
        {"dealer": "Dealer identifier requesting the cancellation"},
    ),
}

CONTRACT_PARAMETERS = {
    "org": "Organization name as it is registered in mas-stack",
    "reservation_id": "Reservation identifier",
    "identifier": "Device identifier",
}

# Sources a page may use without reaching another host.
SAME_ORIGIN_SOURCES = {"'self'", "'none'", "'unsafe-inline'", "data:"}


@pytest.fixture
def document(api: httpx.Client) -> Json:
    """The document the server publishes."""
    response = api.get("/openapi.json")
    assert response.status_code == 200
    body: Json = response.json()
    return body


def _operations(document: Json) -> dict[str, tuple[str, str, Json]]:
    return {
        operation["operationId"]: (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def _resolve(document: Json, schema: Json) -> Json:
    *_, name = schema["$ref"].split("/")
    resolved: Json = document["components"]["schemas"][name]
    return resolved


def _examples(response: Json) -> list[Any]:
    media = response.get("content", {}).get("application/json", {})
    named = [example["value"] for example in media.get("examples", {}).values()]
    return [media["example"], *named] if "example" in media else named


class _Links(HTMLParser):
    """Every URL an HTML page names, and the inline scripts it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls.extend(
            value
            for name in ("src", "href", "action", "data", "poster")
            if (value := values.get(name)) is not None
        )
        self._in_script_without_src = tag == "script" and "src" not in values

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script_without_src = False


def _page_links(api: httpx.Client) -> _Links:
    links = _Links()
    links.feed(api.get("/docs").text)
    return links


def _script_urls(script: str) -> Iterator[str]:
    """Quoted strings in a script that look like URLs or paths."""
    for match in re.finditer(r"""["']((?:[a-z]+:)?//[^"']*|/[^"']*)["']""", script):
        yield match.group(1)


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def _never_opened() -> AbstractAsyncContextManager[Services]:
    raise AssertionError("the app is inspected, never started")


def test_the_document_is_openapi_3_1_served_as_json(api: httpx.Client) -> None:
    response = api.get("/openapi.json")

    document = response.json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Stock Reservations API"
    assert document["info"]["version"]
    assert document["info"]["contact"] == {
        "name": "MasStock Squad",
        "email": "mas_stock@masmovil.com",
    }
    assert [server["url"] for server in document["servers"]] == [
        "http://localhost:8080",
        "/",
    ]
    assert document["tags"] == [
        {
            "name": "Stock Reservations",
            "description": "Operations with stock reservations for retailers",
        }
    ]


def test_the_document_has_the_shape_openapi_3_1_requires(document: Json) -> None:
    for path, item in document["paths"].items():
        templated = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            in_path = {
                parameter["name"]
                for parameter in operation["parameters"]
                if parameter["in"] == "path"
            }
            assert method in {"get", "post", "put", "patch", "delete"}
            assert in_path == templated, (method, path)
            assert all(
                parameter["required"]
                for parameter in operation["parameters"]
                if parameter["in"] == "path"
            )
            assert operation["responses"]
            assert all(
                re.fullmatch(r"[1-5]\d\d", status)
                and isinstance(response["description"], str)
                for status, response in operation["responses"].items()
            )


def test_the_document_lists_exactly_the_routes_the_app_serves(
    document: Json,
) -> None:
    app = create_app(_never_opened, telemetry=Metrics(), max_header_bytes=16384)

    served = {
        (method.lower(), route.path_format)
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith("/v1/")
        for method in route.methods - {"OPTIONS", "HEAD"}
    }

    documented = {
        (method, path) for path, item in document["paths"].items() for method in item
    }
    assert served == documented
    assert len(served) == 8


def test_each_operation_carries_the_contracts_wording(document: Json) -> None:
    operations = _operations(document)

    assert set(CONTRACT_OPERATIONS) <= set(operations)
    for operation_id, (method, path, wording) in CONTRACT_OPERATIONS.items():
        found_method, found_path, operation = operations[operation_id]
        assert (found_method, found_path) == (method, path)
        assert operation["description"] == wording
        assert wording.startswith(operation["summary"])
        assert operation["tags"] == ["Stock Reservations"]
        for parameter in operation["parameters"]:
            if parameter["in"] != "header":
                assert (
                    parameter["description"] == CONTRACT_PARAMETERS[parameter["name"]]
                )


def test_request_bodies_carry_the_contracts_examples_and_fields(
    document: Json,
) -> None:
    operations = _operations(document)

    for operation_id, (description, example, fields) in CONTRACT_REQUESTS.items():
        body = operations[operation_id][2]["requestBody"]
        media = body["content"]["application/json"]
        schema = _resolve(document, media["schema"])
        assert body["description"] == description
        assert body["required"] is True
        assert media["example"] == example
        assert schema["required"] == list(fields)
        assert {
            name: spec["description"] for name, spec in schema["properties"].items()
        } == fields


@pytest.mark.parametrize(
    ("operation_id", "status", "rendered", "example"),
    CONTRACT_RESPONSES,
    ids=[f"{operation}-{status}" for operation, status, *_ in CONTRACT_RESPONSES],
)
def test_each_contract_response_has_its_description_and_example(
    document: Json,
    operation_id: str,
    status: int,
    rendered: str,
    example: Json | None,
) -> None:
    response = _operations(document)[operation_id][2]["responses"][str(status)]

    assert f"{HTTPStatus(status).phrase} {response['description']}" == rendered
    if example is None:
        assert "content" not in response
    else:
        assert _examples(response)[0] == example


def test_every_error_code_the_service_raises_is_documented(document: Json) -> None:
    pending: list[type[errors.MasstockError]] = [errors.MasstockError]
    raised = []
    while pending:
        error = pending.pop()
        if error.__module__ == errors.__name__:
            raised.append(error)
        pending.extend(error.__subclasses__())

    documented = {
        (status, body["code"])
        for _method, _path, operation in _operations(document).values()
        for status, response in operation["responses"].items()
        for body in _examples(response)
        if isinstance(body, dict) and "code" in body
    }

    for error in raised:
        assert (str(STATUS.get(error, 500)), error.code) in documented
    assert ("413", "PAYLOAD_TOO_LARGE") in documented
    assert "METHOD_NOT_ALLOWED" in document["info"]["description"]


def test_the_contract_examples_are_what_the_server_answers(
    api: httpx.Client, document: Json
) -> None:
    operations = _operations(document)
    device = operations["getDevice"][2]
    create = operations["createReservation"][2]

    found = api.get("/v1/orgs/yoigo/device", params={"identifier": "DEVICE123456"})
    created = api.post(
        "/v1/orgs/yoigo/reservation",
        json=create["requestBody"]["content"]["application/json"]["example"],
    )

    assert found.json() == _examples(device["responses"]["200"])[0]
    assert created.status_code == 200
    assert set(created.json()) == set(_examples(create["responses"]["200"])[0])


def test_the_docs_page_is_html_served_by_the_service(api: httpx.Client) -> None:
    response = api.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="swagger-ui"' in response.text


def test_every_url_the_docs_page_names_is_same_origin_and_answers(
    api: httpx.Client,
) -> None:
    links = _page_links(api)
    scripts = [url for url in links.urls if url.endswith(".js")]
    in_scripts = [
        url
        for script in scripts
        if "swagger-ui-bundle" not in script
        for url in _script_urls(api.get(script).text)
    ]

    urls = [*links.urls, *in_scripts]

    assert "/docs/assets/swagger-ui-bundle.js" in urls
    assert "/docs/assets/swagger-ui.css" in urls
    assert "/openapi.json" in in_scripts
    assert links.inline_scripts == 0
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        assert api.get(url).status_code == 200, url


def test_the_docs_start_script_turns_the_outside_validator_off(
    api: httpx.Client,
) -> None:
    scripts = [url for url in _page_links(api).urls if url.endswith(".js")]

    start = api.get(scripts[-1]).text

    assert "SwaggerUIBundle(" in start
    assert re.search(r"validatorUrl:\s*null", start)
    assert re.search(r"""url:\s*["']/openapi\.json["']""", start)


def test_the_docs_policy_lets_the_browser_reach_no_other_host(
    api: httpx.Client,
) -> None:
    response = api.get("/docs")

    policy = _policy(response.headers["content-security-policy"])

    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for name, sources in policy.items():
        assert set(sources) <= SAME_ORIGIN_SOURCES, name
        assert "'unsafe-inline'" not in sources or name == "style-src", name


def test_the_swagger_ui_files_are_served_as_shipped(api: httpx.Client) -> None:
    static = swagger_ui_static()

    script = api.get("/docs/assets/swagger-ui-bundle.js")
    style = api.get("/docs/assets/swagger-ui.css")

    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.content == Path(static, "swagger-ui-bundle.js").read_bytes()
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert style.content == Path(static, "swagger-ui.css").read_bytes()


@pytest.mark.parametrize(
    "name", ["swagger-editor.js", "swagger-initializer.js", "..%2Fcore.py", "LICENSE"]
)
def test_the_docs_serve_no_other_file(api: httpx.Client, name: str) -> None:
    response = api.get(f"/docs/assets/{name}")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
