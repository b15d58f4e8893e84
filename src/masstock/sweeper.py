"""The background job inside ``serve`` that writes down expired holds.

Reads never need it (an expired hold already reads as expired); it keeps the
table honest for reports and the history complete, a batch at a time.
"""

from __future__ import annotations

import asyncio

import structlog

from masstock.domain.errors import StorageUnavailable
from masstock.service.reservations import Reservations

log = structlog.get_logger(__name__)


async def sweep_forever(
    reservations: Reservations, *, interval: float, batch: int
) -> None:
    """Expire due holds every ``interval`` seconds, until cancelled."""
    while True:
        try:
            await reservations.expire_due(limit=batch)
        except StorageUnavailable:
            # The database is away; the requests say so, and the next turn retries.
            log.warning("expiry sweep skipped, database unavailable")
        except Exception:
            # A bug must not stop future sweeps; it is logged whole, and counted
            # as an error by whoever watches the logs.
            log.exception("expiry sweep crashed")
        await asyncio.sleep(interval)
