"""Who may look devices up: anyone, a static bearer token, or OAuth2 clients."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """The one OAuth2 client allowed the client-credentials grant."""

    client_id: str
    secret: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    access_token: str
    expires_in: int


class Gate:
    """Checks lookups' bearer tokens and issues tokens to the OAuth2 client.

    With neither a static token nor a client, every lookup is let through.
    With both, either kind of token is accepted.
    """

    def __init__(
        self,
        *,
        token: str | None,
        client: Client | None,
        token_ttl: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = token
        self._client = client
        self._token_ttl = token_ttl
        self._clock = clock
        self._issued: dict[str, float] = {}

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header lets a lookup through."""
        if self._token is None and self._client is None:
            return True
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return False
        presented = presented.strip()

        if self._token is not None and _same(presented, self._token):
            return True
        expiry = self._issued.get(presented)
        return expiry is not None and self._clock() < expiry

    def knows(self, client_id: str, secret: str) -> bool:
        """Whether these are the registered client's id and secret."""
        client = self._client
        if client is None:
            return False
        return _same(client_id, client.client_id) & _same(secret, client.secret)

    def issue(self) -> IssuedToken:
        """A new access token, good for the configured lifetime."""
        now = self._clock()
        self._issued = {
            token: expiry for token, expiry in self._issued.items() if expiry > now
        }
        token = secrets.token_urlsafe(32)
        self._issued[token] = now + self._token_ttl
        return IssuedToken(access_token=token, expires_in=self._token_ttl)


def client_credentials(
    form: dict[str, list[str]], authorization: str | None
) -> tuple[str, str] | None:
    """The client id and secret of a token request: HTTP Basic, else the form."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, secret = decoded.partition(":")
        return (unquote_plus(client_id), unquote_plus(secret)) if colon else None

    client_ids = form.get("client_id") or [""]
    secrets_given = form.get("client_secret") or [""]
    if not client_ids[0]:
        return None
    return client_ids[0], secrets_given[0]


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())
