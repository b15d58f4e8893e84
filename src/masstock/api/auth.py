"""Who is calling: the bearer token of each request, checked before any work.

With ``MASSTOCK_AUTH=none`` every request is the anonymous caller, who may do
anything; with ``jwt`` a request without a good token is refused with 401, and
one whose token does not reach the org or lacks the route's scope with 403.
The dealer a token is bound to is checked by the routes, against the body.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from masstock.api.services import Services, services_of
from masstock.domain.access import ANONYMOUS, Caller, Scope
from masstock.domain.errors import OrganizationNotFound, RateLimited, Unauthorized

STATE_KEY = "caller"
DEALER_KEY = "dealer_id"
SCOPE_OPTION = "scope"

AnyRequest = Request[Any, Any, Any]


def caller_of(request: AnyRequest) -> Caller:
    """The caller that authentication found for this request."""
    caller: Caller = request.state.get(STATE_KEY, ANONYMOUS)
    return caller


def act_as(request: AnyRequest, dealer_id: str) -> None:
    """Check that the caller may act as ``dealer_id``; the access log names it."""
    request.state[DEALER_KEY] = dealer_id
    caller_of(request).check_dealer(dealer_id)


def requires(scope: Scope) -> dict[str, Scope]:
    """A route's options naming the scope a token needs to call it."""
    return {SCOPE_OPTION: scope}


async def admit(request: AnyRequest) -> None:
    """Let the request through to its route, or raise why not.

    In order: who the caller is (401), whether it has sent too much (429),
    whether it may act in the org (403), whether the org exists (404), and
    whether it holds the route's scope (403).  A hook rather than a guard:
    Litestar copies the handler for each guard call.
    """
    services = services_of(request)
    org = request.path_params["org"]

    caller = await _authenticate(request, services)
    request.state[STATE_KEY] = caller
    if services.limiter is not None:
        retry_after = await services.limiter.hit(_rate_key(request, caller))
        if retry_after is not None:
            raise RateLimited(retry_after=retry_after)

    caller.check_org(org)
    if org not in services.orgs:
        raise OrganizationNotFound(org)
    scope = request.route_handler.opt.get(SCOPE_OPTION)
    if scope is not None:
        caller.check_scope(scope)


async def _authenticate(request: AnyRequest, services: Services) -> Caller:
    if services.tokens is None:
        return ANONYMOUS
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized("bearer token is required", presented=False)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authorization must be a bearer token")
    return await services.tokens.verify(token.strip())


def _rate_key(request: AnyRequest, caller: Caller) -> str:
    # An anonymous caller is known only by its address.
    if caller.subject:
        return f"sub:{caller.subject}"
    client = request.client
    return f"ip:{client.host if client is not None else 'unknown'}"
