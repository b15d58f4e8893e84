"""Who may do what: the caller of a request, its orgs, its dealer, its scopes.

A caller comes from a verified token (or is ``ANONYMOUS`` when authentication
is off).  The rules here are the whole of authorization; the API asks them
before it calls a use case, so nothing is done for a caller who may not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from masstock.domain.errors import Forbidden

# The signature algorithms a token may be signed with: public-key ones only.
# With an HMAC algorithm anyone holding the issuer's public key could sign a
# token; with "none", anyone at all.
SIGNATURE_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class Scope(StrEnum):
    """What a token lets its bearer do."""

    DEVICES_READ = "devices:read"
    RESERVATIONS_READ = "reservations:read"
    RESERVATIONS_WRITE = "reservations:write"
    # A back-office tool: with no dealer claim, act for any dealer.
    RESERVATIONS_ADMIN = "reservations:admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """The bearer of a request's credentials.

    ``None`` for ``orgs`` or ``scopes`` means unrestricted (authentication
    off); ``dealer`` binds the caller to the one dealer it may act for.
    """

    subject: str
    orgs: frozenset[str] | None = None
    dealer: str | None = None
    scopes: frozenset[str] | None = None

    def check_org(self, org: str) -> None:
        """Raise Forbidden unless the caller may act in ``org``."""
        if self.orgs is not None and org not in self.orgs:
            raise Forbidden(f"token does not grant access to organization {org}")

    def check_scope(self, scope: Scope) -> None:
        """Raise Forbidden unless the caller holds ``scope``."""
        if self.scopes is not None and scope not in self.scopes:
            raise Forbidden(f"token lacks scope {scope}", scope=scope)

    def check_dealer(self, dealer_id: str) -> None:
        """Raise Forbidden unless the caller may act for ``dealer_id``."""
        if self.dealer is not None:
            if dealer_id != self.dealer:
                raise Forbidden(
                    f"token is bound to dealer {self.dealer}, not {dealer_id}"
                )
            return
        if self.scopes is not None and Scope.RESERVATIONS_ADMIN not in self.scopes:
            raise Forbidden(
                f"token names no dealer and lacks scope {Scope.RESERVATIONS_ADMIN}",
                scope=Scope.RESERVATIONS_ADMIN,
            )

    def may_read(self, dealer_id: str) -> bool:
        """Whether the caller may see a reservation held by ``dealer_id``."""
        return self.dealer is None or dealer_id == self.dealer


# Every request when authentication is off: any org, any dealer, every scope.
ANONYMOUS = Caller(subject="")
