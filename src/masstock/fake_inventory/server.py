"""The fake logistics stock API: device lookups, OAuth2 tokens, the admin API.

Routes:

- ``GET /v1/orgs/{org}/device?identifier=X&identifierType=IMEI|SERIALNUMBER``
- ``POST /oauth/token`` (client credentials, in the form or HTTP Basic)
- ``PUT|GET|DELETE /_admin/faults`` and ``GET|DELETE /_admin/calls``

Faults apply to device lookups only, after the lookup is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, unquote

import structlog

from masstock.fake_inventory.auth import Gate, client_credentials
from masstock.fake_inventory.catalog import Stock, device_dto
from masstock.fake_inventory.faults import BadFaults, FaultSwitch, Plan, parse_faults
from masstock.fake_inventory.protocol import (
    Connection,
    Request,
    RequestRefused,
    Response,
    error_response,
    json_response,
)

log = structlog.get_logger(__name__)

IDENTIFIER_TYPES = frozenset({"IMEI", "SERIALNUMBER"})
GARBAGE = b"<html>oops</html>"


@dataclass(slots=True)
class Calls:
    """What the fake has been asked, for tests to check."""

    lookups: int = 0
    token_requests: int = 0
    last_query: dict[str, str | None] | None = None
    last_authorized: bool | None = None

    def as_json(self) -> dict[str, object]:
        """The counters as the admin API shows them."""
        return {
            "lookups": self.lookups,
            "token_requests": self.token_requests,
            "last_query": self.last_query,
            "last_authorized": self.last_authorized,
        }


class FakeInventory:
    """The fake's state, and its answer to each request."""

    def __init__(self, *, stock: Stock, gate: Gate, switch: FaultSwitch) -> None:
        self.stock = stock
        self.gate = gate
        self.switch = switch
        self.calls = Calls()
        self._faults_changed = asyncio.Event()
        self._connections: set[Connection] = set()
        self._routes: dict[str, dict[str, Callable[[Request], Response]]] = {
            "/oauth/token": {"POST": self._token},
            "/_admin/faults": {
                "GET": self._show_faults,
                "PUT": self._set_faults,
                "DELETE": self._clear_faults,
            },
            "/_admin/calls": {"GET": self._show_calls, "DELETE": self._reset_calls},
        }

    async def handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one client's connection until either side closes it."""
        connection = Connection(reader, writer)
        self._connections.add(connection)
        try:
            await self._converse(connection)
        except ConnectionError:
            # The client went away mid-request; there is no one left to tell.
            pass
        finally:
            self._connections.discard(connection)
            connection.close()

    def close_connections(self) -> None:
        """Close every open connection, answered or not (at shutdown)."""
        for connection in list(self._connections):
            connection.close()

    async def _converse(self, connection: Connection) -> None:
        while True:
            try:
                request = await connection.next_request()
            except RequestRefused as exc:
                refusal = error_response(exc.status, code=exc.code, message=exc.message)
                await connection.send(refusal, keep_alive=False)
                return
            if request is None:
                return

            response = await self._dispatch(request, connection)
            if response is None:
                return
            await connection.send(response, keep_alive=request.keep_alive)
            if not request.keep_alive or response.truncate:
                return

    async def _dispatch(
        self, request: Request, connection: Connection
    ) -> Response | None:
        try:
            org = _lookup_org(request.path)
            if org is not None:
                if request.method != "GET":
                    return _not_allowed("GET")
                return await self._lookup(request, connection, org=org)
            return self._route(request)
        except Exception:
            # A bug in the fake: tell the client with a 500 and log it whole,
            # rather than leave it waiting on a dead connection.
            log.exception("fake inventory request crashed", path=request.path)
            return error_response(500, code="FAKE_CRASHED", message="fake crashed")

    def _route(self, request: Request) -> Response:
        methods = self._routes.get(request.path)
        if methods is None:
            message = f"No route for {request.path}"
            return error_response(404, code="NOT_FOUND", message=message)
        answer = methods.get(request.method)
        if answer is None:
            return _not_allowed(", ".join(methods))
        return answer(request)

    async def _lookup(
        self, request: Request, connection: Connection, *, org: str
    ) -> Response | None:
        identifier = request.param("identifier")
        self._count_lookup(request)
        plan = self.switch.take()
        log.info(
            "device lookup", org=org, identifier=identifier, faults=plan.describe()
        )

        if plan.delay:
            await asyncio.sleep(plan.delay)
        if plan.hang:
            if not await connection.hold(self._faults_changed):
                return None
            plan = Plan()
        if plan.reset:
            connection.reset()
            return None
        faulty = _faulty_answer(plan)
        if faulty is not None:
            return faulty

        answer = self._answer(request, org=org)
        return _shaped(answer, plan)

    def _count_lookup(self, request: Request) -> None:
        self.calls.lookups += 1
        self.calls.last_query = {
            "identifier": request.param("identifier"),
            "identifierType": request.param("identifierType"),
        }
        self.calls.last_authorized = request.header("authorization") is not None

    def _answer(self, request: Request, *, org: str) -> Response:
        if not self.gate.allows(request.header("authorization")):
            return error_response(
                401,
                code="UNAUTHORIZED",
                message="A valid bearer token is required",
                headers=(("WWW-Authenticate", "Bearer"),),
            )
        identifier = request.param("identifier")
        if not identifier:
            message = "identifier is required"
            return error_response(400, code="BAD_REQUEST", message=message)
        identifier_type = request.param("identifierType")
        if identifier_type is not None and identifier_type not in IDENTIFIER_TYPES:
            message = "identifierType must be IMEI or SERIALNUMBER"
            return error_response(400, code="BAD_REQUEST", message=message)

        stocked = self.stock.find(org=org, identifier=identifier)
        if stocked is None:
            message = f"Device {identifier} not found"
            return error_response(404, code="NOT_FOUND", message=message)
        return json_response(200, device_dto(stocked))

    def _token(self, request: Request) -> Response:
        self.calls.token_requests += 1
        form = parse_qs(request.body.decode(errors="replace"), keep_blank_values=True)
        credentials = client_credentials(form, request.header("authorization"))
        if credentials is None or not self.gate.knows(*credentials):
            return json_response(
                401,
                {"error": "invalid_client"},
                headers=(("WWW-Authenticate", 'Basic realm="fake-inventory"'),),
            )
        grant = form.get("grant_type", [""])[0]
        if grant != "client_credentials":
            error = "unsupported_grant_type" if grant else "invalid_request"
            return json_response(400, {"error": error})

        issued = self.gate.issue()
        document = {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        }
        return json_response(200, document, headers=(("Cache-Control", "no-store"),))

    def _show_faults(self, request: Request) -> Response:
        return json_response(200, {"faults": self.switch.current.as_json()})

    def _set_faults(self, request: Request) -> Response:
        try:
            faults = parse_faults(json.loads(request.body))
        except ValueError as exc:
            # BadFaults, and JSONDecodeError or UnicodeDecodeError for a bad body.
            reason = str(exc) if isinstance(exc, BadFaults) else "body must be JSON"
            return error_response(400, code="BAD_REQUEST", message=reason)

        self.switch.set(faults)
        self._release_held()
        log.info("faults set", faults=faults.as_json())
        return json_response(200, {"faults": faults.as_json()})

    def _clear_faults(self, request: Request) -> Response:
        self.switch.clear()
        self._release_held()
        log.info("faults cleared")
        return json_response(200, {"faults": {}})

    def _show_calls(self, request: Request) -> Response:
        return json_response(200, self.calls.as_json())

    def _reset_calls(self, request: Request) -> Response:
        self.calls = Calls()
        return json_response(200, self.calls.as_json())

    def _release_held(self) -> None:
        self._faults_changed.set()
        self._faults_changed = asyncio.Event()


async def serve(
    inventory: FakeInventory,
    *,
    host: str,
    port: int,
    on_ready: Callable[[str], None],
) -> None:
    """Serve on ``host:port`` until SIGTERM or SIGINT; ``on_ready`` gets the URL."""
    server = await asyncio.start_server(inventory.handle, host, port)
    bound = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    on_ready(f"http://{f'[{host}]' if ':' in host else host}:{bound}")
    await stop.wait()

    server.close()
    inventory.close_connections()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(server.wait_closed(), timeout=5)
    log.info("fake inventory stopped", lookups=inventory.calls.lookups)


def _lookup_org(path: str) -> str | None:
    segments = path.split("/")
    shaped = len(segments) == 5 and segments[:3] == ["", "v1", "orgs"]
    if not shaped or segments[4] != "device" or not segments[3]:
        return None
    return unquote(segments[3])


def _not_allowed(allowed: str) -> Response:
    return error_response(
        405,
        code="METHOD_NOT_ALLOWED",
        message=f"Method not allowed; use {allowed}",
        headers=(("Allow", allowed),),
    )


def _faulty_answer(plan: Plan) -> Response | None:
    if plan.status is not None:
        headers = (
            (("Retry-After", str(plan.retry_after)),)
            if plan.retry_after is not None
            else ()
        )
        message = f"Fault injected: status {plan.status}"
        return error_response(
            plan.status, code="UPSTREAM_FAULT", message=message, headers=headers
        )
    if plan.redirect is not None:
        return Response(status=302, headers=(("Location", plan.redirect),))
    if plan.garbage:
        return Response(status=200, body=GARBAGE, content_type="application/json")
    return None


def _shaped(answer: Response, plan: Plan) -> Response:
    if plan.oversize is not None:
        answer = replace(answer, body=_padded(answer.body, size=plan.oversize))
    if plan.truncate:
        answer = replace(answer, truncate=True)
    return answer


def _padded(body: bytes, *, size: int) -> bytes:
    """A JSON object's text, grown to ``size`` bytes by a ``padding`` member."""
    opening = b'"padding":"' if body == b"{}" else b',"padding":"'
    closing = b'"}'
    filler = size - (len(body) - 1 + len(opening) + len(closing))
    if filler < 0:
        return body
    return body[:-1] + opening + b"x" * filler + closing
