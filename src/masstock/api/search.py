"""The route that lists an org's reservations, a page at a time."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath, FromQuery

from masstock.api.auth import caller_of, requires
from masstock.api.reservations import reservation_view
from masstock.api.services import services_of
from masstock.domain.access import Scope
from masstock.domain.errors import Forbidden
from masstock.domain.search import SearchQuery


@get("/reservations", opt=requires(Scope.RESERVATIONS_READ))
async def search_reservations(  # noqa: PLR0913 (one argument per query parameter)
    *,
    org: FromPath[str],
    request: Request[Any, Any, Any],
    dealer_id: FromQuery[str | None] = None,
    device_id: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    created_after: FromQuery[str | None] = None,
    created_before: FromQuery[str | None] = None,
    limit: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """Lists an org's reservations, newest first, with filters and a cursor."""
    dealer = caller_of(request).dealer
    if dealer is not None:
        # A dealer's token lists that dealer's reservations, and no other's.
        if dealer_id is not None and dealer_id != dealer:
            raise Forbidden(f"token is bound to dealer {dealer}, not {dealer_id}")
        dealer_id = dealer
    query = SearchQuery(
        dealer_id=dealer_id,
        device_id=device_id,
        status=status,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        cursor=cursor,
    )

    page = await services_of(request).search.page(org, query)
    return {
        "items": [reservation_view(reservation) for reservation in page.items],
        "next_cursor": page.next_cursor,
    }
