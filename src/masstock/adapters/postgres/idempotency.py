"""Idempotency keys in PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from masstock.adapters.postgres.database import PostgresDatabase
from masstock.service.ports import Claim, StoredResponse

_CLAIM = (
    "INSERT INTO idempotency_keys "
    "(org, caller, key, fingerprint, claimed_at, expires_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (org, caller, key) DO NOTHING RETURNING 1"
)
_HELD = (
    "SELECT fingerprint, status_code, media_type, body, claimed_at, expires_at "
    "FROM idempotency_keys WHERE org = $1 AND caller = $2 AND key = $3 FOR UPDATE"
)
_RECLAIM = (
    "UPDATE idempotency_keys SET fingerprint = $4, status_code = NULL, "
    "media_type = NULL, body = NULL, claimed_at = $5, expires_at = $6 "
    "WHERE org = $1 AND caller = $2 AND key = $3"
)


class PostgresIdempotencyKeys:
    """Keys and their kept answers; a first claim is one autocommit insert."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def claim(  # noqa: PLR0913 (three names of a key, three times)
        self,
        *,
        org: str,
        caller: str,
        key: str,
        fingerprint: str,
        now: datetime,
        expires_at: datetime,
        stale_before: datetime,
    ) -> Claim:
        async with self._db.connection() as connection:
            if await connection.fetchval(
                _CLAIM, org, caller, key, fingerprint, now, expires_at
            ):
                return Claim("claimed")

            async with connection.transaction():
                row = await connection.fetchrow(_HELD, org, caller, key)
                if row is None or row["expires_at"] <= now:
                    await connection.execute(
                        _RECLAIM if row else _CLAIM,
                        org,
                        caller,
                        key,
                        fingerprint,
                        now,
                        expires_at,
                    )
                    return Claim("claimed")
                if row["fingerprint"] != fingerprint:
                    return Claim("reused")
                if row["status_code"] is not None:
                    stored = StoredResponse(
                        row["status_code"], row["media_type"], bytes(row["body"])
                    )
                    return Claim("replay", stored)
                if row["claimed_at"] < stale_before:
                    await connection.execute(
                        _RECLAIM, org, caller, key, fingerprint, now, expires_at
                    )
                    return Claim("claimed")
                return Claim("in_use")

    async def complete(
        self, *, org: str, caller: str, key: str, stored: StoredResponse
    ) -> None:
        async with self._db.connection() as connection:
            await connection.execute(
                "UPDATE idempotency_keys SET status_code = $4, media_type = $5, "
                "body = $6 WHERE org = $1 AND caller = $2 AND key = $3",
                org,
                caller,
                key,
                stored.status,
                stored.media_type,
                stored.body,
            )

    async def release(self, *, org: str, caller: str, key: str) -> None:
        async with self._db.connection() as connection:
            await connection.execute(
                "DELETE FROM idempotency_keys WHERE org = $1 AND caller = $2 "
                "AND key = $3 AND status_code IS NULL",
                org,
                caller,
                key,
            )

    async def purge(self, *, now: datetime) -> int:
        async with self._db.connection() as connection:
            status: str = await connection.execute(
                "DELETE FROM idempotency_keys WHERE expires_at <= $1", now
            )
        return int(status.rsplit(" ", 1)[-1])
