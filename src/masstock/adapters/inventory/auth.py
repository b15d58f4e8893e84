"""Credentials for the logistics stock API: a fixed token, or OAuth2 client
credentials, never written to a log or an error."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import httpx
import structlog

log = structlog.get_logger(__name__)

# Renew a token this long before the upstream says it expires, so that no
# request goes out with one that lapses on the way.
_RENEW_MARGIN = 30.0


class Credentials(Protocol):
    """Where the ``Authorization`` header of each upstream call comes from."""

    async def header(self) -> str | None:
        """The header's value, or None to send none."""
        ...

    def forget(self) -> None:
        """Drop a token the upstream refused, so that the next call gets another."""
        ...


class NoCredentials:
    async def header(self) -> str | None:
        return None

    def forget(self) -> None:
        return None


class StaticToken:
    """One bearer token, from a setting or a file."""

    def __init__(self, token: str) -> None:
        self._value = f"Bearer {token}"

    def __repr__(self) -> str:
        return "StaticToken(***)"

    async def header(self) -> str | None:
        return self._value

    def forget(self) -> None:
        return None


class ClientCredentials:
    """OAuth2 client credentials: a token fetched once and kept until near expiry."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self._token_url!r}, client_id=***)"

    async def header(self) -> str | None:
        if self._token is None or time.monotonic() >= self._renew_at:
            async with self._lock:
                if self._token is None or time.monotonic() >= self._renew_at:
                    await self._fetch()
        return f"Bearer {self._token}"

    def forget(self) -> None:
        self._token = None

    async def _fetch(self) -> None:
        response = await self._http.post(
            self._token_url,
            data={"grant_type": "client_credentials"},
            auth=(self._client_id, self._client_secret),
        )
        if response.status_code != 200:
            log.error("inventory token refused", status=response.status_code)
            raise TokenRefused(response.status_code)

        body = response.json()
        self._token = str(body["access_token"])
        expires_in = float(body.get("expires_in", 300))
        self._renew_at = time.monotonic() + max(expires_in - _RENEW_MARGIN, 0.0)
        log.info("inventory token acquired", expires_in=expires_in)


class TokenRefused(Exception):
    """The token endpoint would not issue a token."""

    def __init__(self, status: int) -> None:
        super().__init__(f"token endpoint answered {status}")
        self.status = status
