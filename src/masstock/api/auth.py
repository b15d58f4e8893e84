"""Who is calling: the bearer token of each request, checked before any work."""

from __future__ import annotations

from typing import Any

from litestar import Request

from masstock.domain.access import ANONYMOUS, Caller

STATE_KEY = "caller"


def caller_of(request: Request[Any, Any, Any]) -> Caller:
    """The caller that authentication found for this request."""
    caller: Caller = request.state.get(STATE_KEY, ANONYMOUS)
    return caller
