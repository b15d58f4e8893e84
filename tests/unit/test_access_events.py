"""The wrapper around every request: ids, traces, one access event, one observation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from masstock.api.access import observed
from masstock.domain.access import Caller, Scope

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


class _Observations:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.seen.append(
            {"method": method, "route": route, "status": status, "seconds": seconds}
        )


def _routed_app(
    *, status: int = 200, template: str = "/v1/orgs/{org}/reservation", **state: Any
) -> Any:
    """An application that routes like Litestar does, logs one event, answers."""

    async def app(scope: Any, _receive: Any, send: Any) -> None:
        scope["path_template"] = template
        scope["path_params"] = {"org": "yoigo"} if "{org}" in template else {}
        scope["state"].update(state)
        structlog.get_logger("masstock.test").info("reservation created")
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def _call(app: Any, *headers: tuple[str, str], method: str = "POST") -> list[Any]:
    scope = {
        "type": "http",
        "method": method,
        "path": "/v1/orgs/yoigo/reservation",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
    }
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _captured() -> Any:
    # As the service logs: with the request's bound fields on every event.
    return capture_logs(processors=[structlog.contextvars.merge_contextvars])


def _request_events(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for event in logs if event["event"] == "request"]


def test_a_request_gets_one_access_event_with_its_route_template_and_status() -> None:
    observe = _Observations()
    app = observed(
        _routed_app(
            status=409, dealer_id="DEALER001", error_code="RESERVATION_CONFLICT"
        ),
        observe=observe,
    )

    with _captured() as logs:
        _call(app)

    (event,) = _request_events(logs)
    assert event["method"] == "POST"
    assert event["route"] == "/v1/orgs/{org}/reservation"
    assert event["status"] == 409
    assert event["org"] == "yoigo"
    assert event["dealer_id"] == "DEALER001"
    assert event["code"] == "RESERVATION_CONFLICT"
    assert event["duration_ms"] >= 0
    assert len(event["request_id"]) == 32
    assert observe.seen[0]["route"] == "/v1/orgs/{org}/reservation"
    assert observe.seen[0]["status"] == 409


def test_the_dealer_of_a_token_names_the_request_when_no_body_does() -> None:
    caller = Caller(
        subject="pos-17",
        orgs=frozenset({"yoigo"}),
        dealer="DEALER007",
        scopes=frozenset({Scope.RESERVATIONS_READ}),
    )
    app = observed(_routed_app(caller=caller), observe=_Observations())

    with _captured() as logs:
        _call(app, method="GET")

    assert _request_events(logs)[0]["dealer_id"] == "DEALER007"


def test_a_usable_request_id_is_echoed_and_put_on_every_event() -> None:
    app = observed(_routed_app(), observe=_Observations())

    with _captured() as logs:
        sent = _call(app, ("X-Request-ID", "till-42/sale-9"))

    assert (b"x-request-id", b"till-42/sale-9") in sent[0]["headers"]
    assert {event["request_id"] for event in logs} == {"till-42/sale-9"}


@pytest.mark.parametrize("unusable", ["", "with space", "x" * 129, "tab\there"])
def test_an_unusable_request_id_is_replaced_by_a_new_one(unusable: str) -> None:
    app = observed(_routed_app(), observe=_Observations())

    with _captured() as logs:
        sent = _call(app, ("X-Request-ID", unusable))

    echoed = dict(sent[0]["headers"])[b"x-request-id"].decode()
    assert echoed != unusable
    assert len(echoed) == 32
    assert _request_events(logs)[0]["request_id"] == echoed


def test_a_valid_traceparent_puts_its_trace_on_every_event_of_the_request() -> None:
    app = observed(_routed_app(), observe=_Observations())

    with _captured() as logs:
        _call(app, ("traceparent", TRACEPARENT))

    assert len(logs) == 2
    assert {event["trace_id"] for event in logs} == {TRACE_ID}
    assert {event["parent_span_id"] for event in logs} == {PARENT_ID}


@pytest.mark.parametrize(
    "traceparent",
    [
        f"00-{'0' * 32}-{PARENT_ID}-01",  # trace id all zeros
        f"00-{TRACE_ID}-{'0' * 16}-01",  # parent id all zeros
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # version ff is forbidden
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",  # upper case hex
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",  # version 00 has four fields
        f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",
        "garbage",
    ],
)
def test_an_invalid_traceparent_is_ignored(traceparent: str) -> None:
    app = observed(_routed_app(), observe=_Observations())

    with _captured() as logs:
        _call(app, ("traceparent", traceparent))

    assert all("trace_id" not in event for event in logs)


def test_a_later_version_of_traceparent_is_read_for_its_first_four_fields() -> None:
    app = observed(_routed_app(), observe=_Observations())

    with _captured() as logs:
        _call(app, ("traceparent", f"01-{TRACE_ID}-{PARENT_ID}-01-more"))

    assert _request_events(logs)[0]["trace_id"] == TRACE_ID


def test_the_span_of_the_request_wins_over_the_callers_parent() -> None:
    class _Spans:
        def __init__(self) -> None:
            self.routes: list[tuple[str, str]] = []

        def current(self) -> tuple[str, str]:
            return TRACE_ID, "b7ad6b7169203331"

        def routed(self, method: str, route: str) -> None:
            self.routes.append((method, route))

    spans = _Spans()
    app = observed(_routed_app(), observe=_Observations(), spans=spans)

    with _captured() as logs:
        _call(app, ("traceparent", TRACEPARENT))

    event = _request_events(logs)[0]
    assert event["span_id"] == "b7ad6b7169203331"
    assert "parent_span_id" not in event
    assert spans.routes == [("POST", "/v1/orgs/{org}/reservation")]


def test_a_path_no_route_serves_is_logged_and_counted_without_a_route() -> None:
    async def unrouted(_scope: Any, _receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    observe = _Observations()
    app = observed(unrouted, observe=observe)

    with _captured() as logs:
        _call(app, method="GET")

    event = _request_events(logs)[0]
    assert (event["route"], event["status"]) == ("", 404)
    assert "org" not in event
    assert observe.seen[0]["route"] == ""


def test_a_crash_before_any_answer_is_logged_as_500() -> None:
    async def crashing(_scope: Any, _receive: Any, _send: Any) -> None:
        raise RuntimeError("bug")

    app = observed(crashing, observe=_Observations())

    with _captured() as logs, pytest.raises(RuntimeError):
        _call(app)

    assert _request_events(logs)[0]["status"] == 500
