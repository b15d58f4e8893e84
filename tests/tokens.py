"""Signing keys and bearer tokens for tests: good ones, and the kinds to refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

ISSUER = "https://auth.example.test"
AUDIENCE = "masstock"

DEFAULT_SCOPES = ("devices:read", "reservations:read", "reservations:write")

_CURVES: dict[str, ec.EllipticCurve] = {
    "ES256": ec.SECP256R1(),
    "ES384": ec.SECP384R1(),
    "ES512": ec.SECP521R1(),
}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class SigningKey:
    """An issuer's key pair, as PEM, and its public half as a JWK."""

    kid: str
    algorithm: str
    private_pem: bytes
    public_pem: bytes
    jwk: dict[str, Any]


def new_signing_key(*, kid: str = "key-1", algorithm: str = "RS256") -> SigningKey:
    """A new key pair for ``algorithm`` (RS*, PS*, ES256/384/512 or EdDSA)."""
    private = _generate(algorithm)
    public = private.public_key()
    jwk = get_default_algorithms()[algorithm].to_jwk(public, as_dict=True)
    jwk.pop("key_ops", None)
    return SigningKey(
        kid=kid,
        algorithm=algorithm,
        private_pem=private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        public_pem=public.public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        ),
        jwk={**jwk, "kid": kid, "alg": algorithm, "use": "sig"},
    )


def _generate(algorithm: str) -> PrivateKey:
    if algorithm.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm in _CURVES:
        return ec.generate_private_key(_CURVES[algorithm])
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"no key for algorithm {algorithm}")


def write_jwks(path: Path, *keys: SigningKey) -> Path:
    """Write the public halves of ``keys`` as a JWK Set at ``path``."""
    path.write_text(json.dumps({"keys": [key.jwk for key in keys]}))
    return path


def issue(
    key: SigningKey,
    *,
    subject: str = "portal",
    orgs: Sequence[str] | str | None = ("yoigo",),
    dealer: str | None = "DEALER001",
    scopes: Sequence[str] = DEFAULT_SCOPES,
    lifetime: int = 300,
    not_before: int | None = None,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    extra: Mapping[str, Any] | None = None,
    kid: str | None = None,
) -> str:
    """A token signed with ``key``; a claim given as None (also in ``extra``) is
    left out.  ``lifetime`` and ``not_before`` are seconds from now."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + lifetime,
        "nbf": None if not_before is None else now + not_before,
        "orgs": orgs if orgs is None or isinstance(orgs, str) else list(orgs),
        "dealer_id": dealer,
        "scope": " ".join(scopes),
        **(extra or {}),
    }
    payload = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(
        payload,
        key.private_pem,
        algorithm=key.algorithm,
        headers={"kid": kid or key.kid},
    )


def bad_tokens(key: SigningKey) -> dict[str, str]:
    """Tokens a verifier holding ``key`` must refuse, by what is wrong with them.

    ``unknown_kid`` and ``other_key_same_kid`` are signed by another key: a
    JWKS verifier refuses the first for its kid, a PEM one for its signature.
    """
    other = new_signing_key(kid=key.kid, algorithm=key.algorithm)
    good = issue(key)
    return {
        "expired": issue(key, lifetime=-3600),
        "not_yet_valid": issue(key, not_before=3600, lifetime=7200),
        "wrong_audience": issue(key, audience="another-service"),
        "wrong_issuer": issue(key, issuer="https://impostor.example.test"),
        "alg_none": _unsigned(key),
        "hs256_with_public_key": _hmac_signed(key),
        "tampered_payload": _tampered(good, dealer="DEALER999"),
        "unknown_kid": issue(other, kid="unknown-key"),
        "other_key_same_kid": issue(other),
        "malformed": "not-a-token",
    }


def _unsigned(key: SigningKey) -> str:
    header = _segment({"alg": "none", "typ": "JWT", "kid": key.kid})
    return f"{header}.{_segment(_claims_of(issue(key)))}."


def _hmac_signed(key: SigningKey) -> str:
    # The classic confusion: HS256 keyed with the bytes of the public key.
    header = _segment({"alg": "HS256", "typ": "JWT", "kid": key.kid})
    signing_input = f"{header}.{_segment(_claims_of(issue(key)))}"
    mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64(mac.digest())}"


def _tampered(token: str, *, dealer: str) -> str:
    header, _payload, signature = token.split(".")
    claims = {**_claims_of(token), "dealer_id": dealer}
    return f"{header}.{_segment(claims)}.{signature}"


def _claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def _segment(value: Mapping[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
