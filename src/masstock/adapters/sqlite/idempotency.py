"""Idempotency keys in SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from masstock.adapters.sqlite.database import (
    SqliteDatabase,
    from_text,
    to_text,
)
from masstock.service.ports import Claim, StoredResponse

_THE_KEY = "org = ? AND caller = ? AND key = ?"


class SqliteIdempotencyKeys:
    """Keys and their kept answers, claimed under the file's write lock."""

    def __init__(self, database: SqliteDatabase) -> None:
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
        the_key = (org, caller, key)

        def _claim(connection: sqlite3.Connection) -> Claim:
            row = connection.execute(
                "SELECT fingerprint, status_code, media_type, body, claimed_at, "
                f"expires_at FROM idempotency_keys WHERE {_THE_KEY}",
                the_key,
            ).fetchone()
            if row is not None and from_text(row[5]) <= now:
                connection.execute(
                    f"DELETE FROM idempotency_keys WHERE {_THE_KEY}", the_key
                )
                row = None
            if row is None:
                connection.execute(
                    "INSERT INTO idempotency_keys (org, caller, key, fingerprint, "
                    "claimed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (*the_key, fingerprint, to_text(now), to_text(expires_at)),
                )
                return Claim("claimed")
            if row[0] != fingerprint:
                return Claim("reused")
            if row[1] is not None:
                return Claim("replay", StoredResponse(row[1], row[2], bytes(row[3])))
            if from_text(row[4]) < stale_before:
                connection.execute(
                    f"UPDATE idempotency_keys SET claimed_at = ? WHERE {_THE_KEY}",
                    (to_text(now), *the_key),
                )
                return Claim("claimed")
            return Claim("in_use")

        return await self._db.write(_claim)

    async def complete(
        self, *, org: str, caller: str, key: str, stored: StoredResponse
    ) -> None:
        def _complete(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE idempotency_keys SET status_code = ?, media_type = ?, "
                f"body = ? WHERE {_THE_KEY}",
                (stored.status, stored.media_type, stored.body, org, caller, key),
            )

        await self._db.write(_complete)

    async def release(self, *, org: str, caller: str, key: str) -> None:
        def _release(connection: sqlite3.Connection) -> None:
            connection.execute(
                f"DELETE FROM idempotency_keys WHERE {_THE_KEY} "
                "AND status_code IS NULL",
                (org, caller, key),
            )

        await self._db.write(_release)

    async def purge(self, *, now: datetime) -> int:
        def _purge(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "DELETE FROM idempotency_keys WHERE expires_at <= ?",
                (to_text(now),),
            )
            return cursor.rowcount

        return await self._db.write(_purge)
