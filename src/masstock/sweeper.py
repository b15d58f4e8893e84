"""The background job inside ``serve``: expired holds, old idempotency keys.

Reads never need it (an expired hold already reads as expired); it keeps the
table honest for reports and the history complete, a batch at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from masstock.domain.errors import StorageUnavailable
from masstock.service.idempotency import Idempotency
from masstock.service.reservations import Reservations

log = structlog.get_logger(__name__)


async def sweep_forever(
    reservations: Reservations,
    idempotency: Idempotency,
    *,
    interval: float,
    batch: int,
    swept: Callable[[], None] | None = None,
) -> None:
    """Expire due holds and forget old idempotency keys, until cancelled.

    ``swept`` is called after each sweep that ran to its end.
    """
    while True:
        try:
            await reservations.expire_due(limit=batch)
            await idempotency.purge()
            if swept is not None:
                swept()
        except StorageUnavailable:
            # The database is away; the requests say so, and the next turn retries.
            log.warning("expiry sweep skipped, database unavailable")
        except Exception:
            # A bug must not stop future sweeps; it is logged whole, and counted
            # as an error by whoever watches the logs.
            log.exception("expiry sweep crashed")
        await asyncio.sleep(interval)
