"""Bearer tokens (JWT) checked against the issuer's public keys.

The keys come from one of three places: a PEM public key file, a JSON Web Key
Set file, or a JWKS URL.  A URL's set is fetched when first needed, again when
it is older than ``jwks_cache_ttl``, and again when a token names a key it
lacks (at most once per ``jwks_min_refresh`` seconds, so that tokens with
made-up key ids cannot hammer the issuer).  While the issuer is away, the keys
already known keep serving.

Every refusal is an ``Unauthorized`` with a short reason; no exception of PyJWT,
cryptography or httpx leaves this module.  Tokens and keys are never logged.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
import structlog
from cachetools import TLRUCache
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidSubjectError

from masstock.domain.access import SIGNATURE_ALGORITHMS, Caller
from masstock.domain.errors import AuthUnavailable, Unauthorized

log = structlog.get_logger(__name__)

PublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
)

_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_CURVE_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_MIN_RSA_BITS = 2048

_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
# Each check costs a signature verification: a client sending the same token
# again is answered from memory.  Longer tokens are checked every time, which
# bounds the memory to about entries * length.
_CACHE_ENTRIES = 4096
_CACHEABLE_LENGTH = 4096

_FETCH_TIMEOUT = httpx.Timeout(2.0, connect=1.0)
# httpx's timeouts are per read: a server dripping bytes could hold the fetch,
# and every request waiting on it, for much longer without this.
_FETCH_DEADLINE = 4.0
_MAX_JWKS_BYTES = 256 * 1024

_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "bearer token has expired"),
    (jwt.ImmatureSignatureError, "bearer token is not valid yet"),
    (jwt.InvalidAudienceError, "bearer token is for another audience"),
    (jwt.InvalidIssuerError, "bearer token is from another issuer"),
    (jwt.InvalidSignatureError, "bearer token signature is invalid"),
    (jwt.InvalidAlgorithmError, "bearer token algorithm is not accepted"),
    (InvalidSubjectError, "bearer token claim sub has the wrong type"),
    (jwt.InvalidIssuedAtError, "bearer token claim iat has the wrong type"),
    (jwt.InvalidKeyError, "bearer token is signed with an unknown key"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenConfig:
    """Where the issuer's keys are, and what a token must say to be accepted."""

    public_key_file: Path | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    issuer: str
    audience: str
    leeway: int = 30
    jwks_cache_ttl: float = 3600.0
    jwks_min_refresh: float = 30.0
    orgs_claim: str = "orgs"
    dealer_claim: str = "dealer_id"
    scope_claim: str = "scope"

    def __post_init__(self) -> None:
        sources = (self.public_key_file, self.jwks_file, self.jwks_url)
        if sum(source is not None for source in sources) != 1:
            raise ValueError("give exactly one of public_key_file, jwks_file, jwks_url")
        if not self.algorithms:
            raise ValueError("name at least one algorithm")
        bad = [name for name in self.algorithms if name not in SIGNATURE_ALGORITHMS]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a public-key signature algorithm")


class KeySourceError(Exception):
    """The configured key file cannot be used; the message names the file."""


@dataclass(frozen=True, slots=True)
class _Key:
    """One public key of the issuer, and the algorithms it may verify here."""

    kid: str | None
    key: PublicKey
    algorithms: frozenset[str]


class _KeyRing(Protocol):
    async def find(self, kid: str | None) -> _Key:
        """The key a token's ``kid`` names; raises Unauthorized or AuthUnavailable."""
        ...


@dataclass(frozen=True, slots=True)
class _Entry:
    caller: Caller
    # Wall-clock second from which the token is refused, leeway included.
    expires: float


class JwtVerifier:
    """The TokenVerifier port over signed JWTs."""

    def __init__(
        self,
        config: TokenConfig,
        *,
        keys: _KeyRing,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._keys = keys
        self._cache: TLRUCache[str, _Entry] = TLRUCache(
            maxsize=_CACHE_ENTRIES, ttu=_until_expiry, timer=clock
        )

    async def verify(self, token: str) -> Caller:
        """The caller the token speaks for; raises Unauthorized if it is not good."""
        entry = self._cache.get(token)
        if entry is not None:
            return entry.caller

        try:
            caller, expires = await self._check(token)
        except Unauthorized as exc:
            log.debug("bearer token refused", reason=exc.message)
            raise
        if len(token) <= _CACHEABLE_LENGTH:
            self._cache[token] = _Entry(caller, expires)
        return caller

    async def _check(self, token: str) -> tuple[Caller, float]:
        header = _header(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._config.algorithms:
            raise Unauthorized("bearer token algorithm is not accepted")
        key = await self._keys.find(header.get("kid"))
        if algorithm not in key.algorithms:
            raise Unauthorized("bearer token algorithm is not accepted")

        claims = self._decode(token, key=key.key, algorithm=algorithm)
        caller = _caller(claims, config=self._config)
        return caller, int(claims["exp"]) + self._config.leeway

    def _decode(self, token: str, *, key: PublicKey, algorithm: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self._config.audience,
                issuer=self._config.issuer,
                leeway=self._config.leeway,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"bearer token lacks claim {exc.claim}") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(_reason(exc)) from None
        except (ValueError, TypeError, OverflowError, UnsupportedAlgorithm) as exc:
            # A crafted token may still trip a parser below PyJWT; it is the
            # token's fault, not the service's.
            log.info("bearer token unreadable", error=type(exc).__name__)
            raise Unauthorized("bearer token is malformed") from None


def _until_expiry(_token: str, entry: _Entry, _now: float) -> float:
    return entry.expires


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise Unauthorized("bearer token is malformed") from None


def _reason(exc: jwt.PyJWTError) -> str:
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "bearer token is malformed"


def _caller(claims: Mapping[str, Any], *, config: TokenConfig) -> Caller:
    subject = claims["sub"]
    if not subject:
        raise Unauthorized("bearer token claim sub is empty")
    return Caller(
        subject=subject,
        orgs=_strings(claims, name=config.orgs_claim, split=False),
        dealer=_dealer(claims, name=config.dealer_claim),
        scopes=_strings(claims, name=config.scope_claim, split=True),
    )


def _strings(claims: Mapping[str, Any], *, name: str, split: bool) -> frozenset[str]:
    """A claim that is a string or a list of strings; missing grants nothing."""
    value = claims.get(name)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        # OAuth's scope is one space-separated string (RFC 8693, section 4.2).
        return frozenset(value.split()) if split else frozenset({value})
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise Unauthorized(f"bearer token claim {name} has the wrong type")


def _dealer(claims: Mapping[str, Any], *, name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Unauthorized(f"bearer token claim {name} has the wrong type")
    if not value:
        raise Unauthorized(f"bearer token claim {name} is empty")
    return value


def check_key_file(config: TokenConfig) -> None:
    """Raise KeySourceError, naming the file, unless its keys can check tokens."""
    if config.public_key_file is not None:
        _read_pem(config.public_key_file, config=config)
    elif config.jwks_file is not None:
        _read_jwks(config.jwks_file, config=config)


@asynccontextmanager
async def open_verifier(config: TokenConfig) -> AsyncIterator[JwtVerifier]:
    """A verifier over the configured keys; a key file that cannot serve fails here."""
    async with AsyncExitStack() as stack:
        keys: _KeyRing
        if config.public_key_file is not None:
            keys = _PemKey(_read_pem(config.public_key_file, config=config))
        elif config.jwks_file is not None:
            keys = _KeySet(_read_jwks(config.jwks_file, config=config))
        else:
            assert config.jwks_url is not None  # noqa: S101 (TokenConfig checked)
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=_FETCH_TIMEOUT, follow_redirects=False)
            )
            keys = _RemoteKeySet(_url(config.jwks_url), http=http, config=config)
        yield JwtVerifier(config, keys=keys)


def _url(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except httpx.InvalidURL:
        raise KeySourceError("the JWKS URL is not a usable URL") from None


class _PemKey:
    """One public key: every token is checked against it, whatever its ``kid``."""

    def __init__(self, key: _Key) -> None:
        self._key = key

    async def find(self, kid: str | None) -> _Key:
        return self._key


class _KeySet:
    """A fixed set of keys, chosen by the token's ``kid``."""

    def __init__(self, keys: Mapping[str, _Key]) -> None:
        self._keys = dict(keys)

    async def find(self, kid: str | None) -> _Key:
        if kid is None:
            raise Unauthorized("bearer token lacks header kid")
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("bearer token is signed with an unknown key")
        return key


class _RemoteKeySet:
    """The issuer's published key set, fetched again when old or when a kid is new.

    Fetches go one at a time, at most one per ``jwks_min_refresh`` seconds;
    callers waiting for a fetch use its outcome rather than making their own.
    """

    def __init__(
        self,
        url: httpx.URL,
        *,
        http: httpx.AsyncClient,
        config: TokenConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        # Credentials may hide in the user part or the query: logs get neither.
        self._shown = str(url.copy_with(userinfo=b"", query=None, fragment=None))
        self._http = http
        self._config = config
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._fetches = 0
        self._failing = False
        self._lock = asyncio.Lock()

    async def find(self, kid: str | None) -> _Key:
        if kid is None:
            raise Unauthorized("bearer token lacks header kid")
        seen = self._fetches
        if self._clock() - self._fetched_at >= self._config.jwks_cache_ttl:
            # An old set still serves while another caller renews it.
            await self._refresh(wait=not self._keys)
        key = self._keys.get(kid)
        if key is None and self._fetches == seen:
            await self._refresh(wait=True)
            key = self._keys.get(kid)
        if key is not None:
            return key
        if self._failing:
            # The issuer may have published this key since the last good fetch.
            raise AuthUnavailable()
        raise Unauthorized("bearer token is signed with an unknown key")

    async def _refresh(self, *, wait: bool) -> None:
        if not wait and self._lock.locked():
            return
        seen = self._fetches
        async with self._lock:
            if self._fetches != seen:
                # A fetch ended while this caller waited: its outcome stands.
                return
            if self._clock() - self._attempted_at < self._config.jwks_min_refresh:
                return
            self._attempted_at = self._clock()
            try:
                keys = await self._fetch()
            except _KeySetUnusable as exc:
                self._failing = True
                log.warning(
                    "jwks fetch failed",
                    url=self._shown,
                    reason=str(exc),
                    keys_kept=len(self._keys),
                )
                return
            finally:
                self._fetches += 1
            self._keys = keys
            self._fetched_at = self._clock()
            self._failing = False
            log.info("jwks fetched", url=self._shown, keys=len(keys))

    async def _fetch(self) -> dict[str, _Key]:
        try:
            async with asyncio.timeout(_FETCH_DEADLINE):
                body = await self._download()
        except TimeoutError as exc:
            raise _KeySetUnusable(f"no answer within {_FETCH_DEADLINE} s") from exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise _KeySetUnusable(type(exc).__name__) from exc

        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise _KeySetUnusable("not JSON") from exc
        keys = _parse_jwks(document, config=self._config, source=self._shown)
        if not keys:
            raise _KeySetUnusable("no usable key")
        return keys

    async def _download(self) -> bytes:
        async with self._http.stream(
            "GET", self._url, headers={"Accept": "application/json"}
        ) as response:
            if response.status_code != 200:
                raise _KeySetUnusable(f"status {response.status_code}")
            return await _read_capped(response)


class _KeySetUnusable(Exception):
    """A fetch of the published key set gave nothing to use."""


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > _MAX_JWKS_BYTES:
            raise _KeySetUnusable(f"body over {_MAX_JWKS_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _read_pem(path: Path, *, config: TokenConfig) -> _Key:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeySourceError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        key: object = (
            x509.load_pem_x509_certificate(data).public_key()
            if b"-----BEGIN CERTIFICATE-----" in data
            else load_pem_public_key(data)
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        message = f"{path}: holds no PEM public key or certificate"
        raise KeySourceError(message) from None
    try:
        return _usable(key, kid=None, declared=None, config=config)
    except _KeyRefused as exc:
        raise KeySourceError(f"{path}: {exc}") from None


def _read_jwks(path: Path, *, config: TokenConfig) -> dict[str, _Key]:
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise KeySourceError(f"{path}: cannot be read ({exc.strerror})") from None
    except (ValueError, RecursionError):
        raise KeySourceError(f"{path}: is not JSON") from None
    try:
        keys = _parse_jwks(document, config=config, source=str(path))
    except _KeySetUnusable as exc:
        raise KeySourceError(f"{path}: {exc}") from None
    if not keys:
        raise KeySourceError(f"{path}: holds no key usable with {config.algorithms}")
    return keys


def _parse_jwks(
    document: object, *, config: TokenConfig, source: str
) -> dict[str, _Key]:
    """The usable keys of a JWK Set, by kid; unusable ones are logged and skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _KeySetUnusable('not a JWK Set (an object with a "keys" list)')
    keys: dict[str, _Key] = {}
    for jwk in document["keys"]:
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        try:
            key = _from_jwk(jwk, config=config)
        except _KeyRefused as exc:
            log.warning("jwks key skipped", source=source, kid=kid, reason=str(exc))
            continue
        if key.kid in keys:
            log.warning("jwks key skipped", source=source, kid=kid, reason="kid again")
            continue
        assert key.kid is not None  # noqa: S101 (_from_jwk requires one)
        keys[key.kid] = key
    return keys


class _KeyRefused(Exception):
    """A key that cannot verify tokens here; the message says why."""


def _from_jwk(jwk: object, *, config: TokenConfig) -> _Key:
    if not isinstance(jwk, dict):
        raise _KeyRefused("not a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _KeyRefused("no kid")
    if jwk.get("use", "sig") != "sig":
        raise _KeyRefused("not a signing key")
    declared = jwk.get("alg")
    if declared is not None and not isinstance(declared, str):
        raise _KeyRefused("alg is not a string")

    kty = jwk.get("kty")
    readers: dict[object, Callable[[dict[str, Any]], object]] = {
        "RSA": RSAAlgorithm.from_jwk,
        "EC": ECAlgorithm.from_jwk,
        "OKP": OKPAlgorithm.from_jwk,
    }
    reader = readers.get(kty)
    if reader is None:
        raise _KeyRefused(f"key type {kty!r} is not a public-key type")
    try:
        key = reader(jwk)
    except (jwt.PyJWTError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _KeyRefused(f"unreadable {kty} key ({type(exc).__name__})") from None
    return _usable(key, kid=kid, declared=declared, config=config)


def _usable(
    key: object, *, kid: str | None, declared: str | None, config: TokenConfig
) -> _Key:
    """The key with the accepted algorithms it fits, or _KeyRefused saying why not."""
    public = _public(key)
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < _MIN_RSA_BITS:
        raise _KeyRefused(f"RSA key of {public.key_size} bits, under {_MIN_RSA_BITS}")
    fits = set(algorithms_for(public))
    if declared is not None:
        fits &= {declared}
    algorithms = fits & set(config.algorithms)
    if not algorithms:
        names = ", ".join(config.algorithms)
        raise _KeyRefused(f"fits none of the accepted algorithms ({names})")
    return _Key(kid=kid, key=public, algorithms=frozenset(algorithms))


def _public(key: object) -> PublicKey:
    # A set published with private parts still verifies with its public half.
    if isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        key = key.public_key()
    if isinstance(
        key,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        return key
    raise _KeyRefused(f"{type(key).__name__} keys are not accepted")


def algorithms_for(key: PublicKey) -> frozenset[str]:
    """The public-key signature algorithms that ``key`` can verify."""
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        algorithm = _CURVE_ALGORITHMS.get(key.curve.name)
        return frozenset() if algorithm is None else frozenset({algorithm})
    return frozenset({"EdDSA"})
