"""Idempotent retries: a retried POST gets the first answer, not a second effect.

A key belongs to an org and a caller (the subject of the request's
credentials, "" when nobody signs in), so that one caller never sees another's
answer.  A key is claimed before the request runs; the answer is kept under
it in the same transaction as the change it reports (see ``KeyCompletion``),
or just after when the request changed nothing (a repeated cancellation).  A request
that fails releases its claim: nothing changed, so its retry runs afresh.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from masstock.domain.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    StorageUnavailable,
)
from masstock.service.ports import (
    Claim,
    Clock,
    IdempotencyKeys,
    KeyCompletion,
    StoredResponse,
)

log = structlog.get_logger(__name__)

# A claim left unfinished this long belongs to a request that died; a retry
# may take it over.  Longer than any request can run.
IN_FLIGHT_TIMEOUT = timedelta(seconds=60)


class Idempotency:
    """Claims, answers and purges of idempotency keys."""

    def __init__(self, *, keys: IdempotencyKeys, clock: Clock, ttl: timedelta) -> None:
        self._keys = keys
        self._clock = clock
        self._ttl = ttl

    async def begin(
        self, *, org: str, caller: str, key: str, fingerprint: str
    ) -> Claim:
        """Claim ``caller``'s ``key`` for this request, or get the answer to replay."""
        now = self._clock()
        claim = await self._keys.claim(
            org=org,
            caller=caller,
            key=key,
            fingerprint=fingerprint,
            now=now,
            expires_at=now + self._ttl,
            stale_before=now - IN_FLIGHT_TIMEOUT,
        )
        if claim.outcome == "reused":
            raise IdempotencyKeyReused
        if claim.outcome == "in_use":
            raise IdempotencyKeyInUse
        if claim.outcome == "replay":
            log.info("idempotent request replayed", org=org)
        return claim

    async def finish(self, completion: KeyCompletion, stored: StoredResponse) -> None:
        """Keep the answer, unless the change already kept it with itself."""
        if not completion.written:
            await self._keys.complete(
                org=completion.org,
                caller=completion.caller,
                key=completion.key,
                stored=stored,
            )

    async def abandon(self, *, org: str, caller: str, key: str) -> None:
        """Release the claim of a request that failed and changed nothing."""
        try:
            await self._keys.release(org=org, caller=caller, key=key)
        except StorageUnavailable:
            # The database is away; the claim goes stale and a retry takes it.
            log.warning("idempotency claim left to go stale", org=org)

    async def purge(self) -> int:
        """Forget keys past their time; how many."""
        return await self._keys.purge(now=self._clock())
