"""Bearer tokens checked against a PEM key, a JWKS file and a JWKS URL."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from structlog.testing import capture_logs

from masstock.adapters.tokens import (
    JwtVerifier,
    KeySourceError,
    TokenConfig,
    open_verifier,
)
from masstock.domain.access import Caller, Scope
from masstock.domain.errors import AuthUnavailable, Forbidden, Unauthorized
from tests.tokens import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    bad_tokens,
    issue,
    new_signing_key,
    write_jwks,
)

PORTAL = Caller(
    subject="portal",
    orgs=frozenset({"yoigo"}),
    dealer="DEALER001",
    scopes=frozenset({"devices:read", "reservations:read", "reservations:write"}),
)


def _config(**changes: Any) -> TokenConfig:
    settings: dict[str, Any] = {
        "algorithms": ("RS256", "ES256"),
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "leeway": 30,
        "jwks_cache_ttl": 3600.0,
        "jwks_min_refresh": 0.0,
    }
    return TokenConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return new_signing_key(kid="key-1", algorithm="RS256")


@pytest.fixture(scope="module")
def refused(key: SigningKey) -> dict[str, str]:
    return bad_tokens(key)


@pytest.fixture(params=["pem", "jwks"])
def source(request: pytest.FixtureRequest) -> str:
    source: str = request.param
    return source


def _keys_config(
    source: str, *, keys: list[SigningKey], tmp_path: Path, **changes: Any
) -> TokenConfig:
    if source == "pem":
        pem = tmp_path / "public.pem"
        pem.write_bytes(keys[0].public_pem)
        return _config(public_key_file=pem, **changes)
    return _config(jwks_file=write_jwks(tmp_path / "jwks.json", *keys), **changes)


@pytest.fixture
async def verifier(
    source: str, key: SigningKey, tmp_path: Path
) -> AsyncIterator[JwtVerifier]:
    config = _keys_config(source, keys=[key], tmp_path=tmp_path)
    async with open_verifier(config) as verifier:
        yield verifier


async def _refusal(verifier: JwtVerifier, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(token)
    return caught.value


async def test_a_good_token_gives_the_caller_it_names(
    verifier: JwtVerifier, key: SigningKey
) -> None:
    token = issue(key)

    caller = await verifier.verify(token)

    assert caller == PORTAL


async def test_rs256_and_es256_keys_serve_side_by_side_from_one_jwks(
    key: SigningKey, tmp_path: Path
) -> None:
    ec_key = new_signing_key(kid="key-ec", algorithm="ES256")
    config = _config(jwks_file=write_jwks(tmp_path / "jwks.json", key, ec_key))

    async with open_verifier(config) as verifier:
        callers = [
            await verifier.verify(issue(key)),
            await verifier.verify(issue(ec_key, subject="kiosk")),
        ]

    assert [caller.subject for caller in callers] == ["portal", "kiosk"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("expired", "bearer token has expired"),
        ("not_yet_valid", "bearer token is not valid yet"),
        ("wrong_audience", "bearer token is for another audience"),
        ("wrong_issuer", "bearer token is from another issuer"),
        ("alg_none", "bearer token algorithm is not accepted"),
        ("hs256_with_public_key", "bearer token algorithm is not accepted"),
        ("tampered_payload", "bearer token signature is invalid"),
        ("unknown_kid", None),
        ("other_key_same_kid", "bearer token signature is invalid"),
        ("malformed", "bearer token is malformed"),
    ],
)
async def test_every_bad_token_is_refused_with_its_reason(
    verifier: JwtVerifier,
    source: str,
    refused: dict[str, str],
    name: str,
    reason: str | None,
) -> None:
    expected = (
        reason
        or {
            "pem": "bearer token signature is invalid",
            "jwks": "bearer token is signed with an unknown key",
        }[source]
    )

    error = await _refusal(verifier, refused[name])

    assert error.message == expected
    assert error.presented


@pytest.mark.parametrize("claim", ["sub", "exp", "iss", "aud"])
async def test_a_token_lacking_a_required_claim_is_refused_naming_it(
    verifier: JwtVerifier, key: SigningKey, claim: str
) -> None:
    token = issue(key, extra={claim: None})

    error = await _refusal(verifier, token)

    assert error.message == f"bearer token lacks claim {claim}"


@pytest.mark.parametrize(
    ("orgs", "scope", "expected_orgs"),
    [
        ("yoigo", "devices:read reservations:read", frozenset({"yoigo"})),
        (
            ["yoigo", "lowi"],
            ["devices:read", "reservations:read"],
            frozenset({"yoigo", "lowi"}),
        ),
    ],
)
async def test_orgs_and_scopes_may_each_be_a_string_or_a_list(
    verifier: JwtVerifier,
    key: SigningKey,
    orgs: str | list[str],
    scope: str | list[str],
    expected_orgs: frozenset[str],
) -> None:
    token = issue(key, orgs=orgs, extra={"scope": scope})

    caller = await verifier.verify(token)

    assert caller.orgs == expected_orgs
    assert caller.scopes == frozenset({"devices:read", "reservations:read"})


async def test_a_token_naming_no_orgs_or_dealer_grants_no_org_and_binds_no_dealer(
    verifier: JwtVerifier, key: SigningKey
) -> None:
    token = issue(key, orgs=None, dealer=None, scopes=())

    caller = await verifier.verify(token)

    assert caller == Caller(
        subject="portal", orgs=frozenset(), dealer=None, scopes=frozenset()
    )
    with pytest.raises(Forbidden):
        caller.check_org("yoigo")
    with pytest.raises(Forbidden):
        caller.check_scope(Scope.DEVICES_READ)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"orgs": 5}, "bearer token claim orgs has the wrong type"),
        ({"orgs": ["yoigo", 3]}, "bearer token claim orgs has the wrong type"),
        ({"scope": {"devices": "read"}}, "bearer token claim scope has the wrong type"),
        ({"dealer_id": 7}, "bearer token claim dealer_id has the wrong type"),
        ({"dealer_id": ""}, "bearer token claim dealer_id is empty"),
        ({"sub": 42}, "bearer token claim sub has the wrong type"),
        ({"sub": ""}, "bearer token claim sub is empty"),
        ({"exp": "tomorrow"}, "bearer token is malformed"),
        ({"iat": "today"}, "bearer token claim iat has the wrong type"),
    ],
)
async def test_a_claim_of_the_wrong_type_is_refused_naming_it(
    verifier: JwtVerifier, key: SigningKey, extra: dict[str, Any], reason: str
) -> None:
    token = issue(key, extra=extra)

    error = await _refusal(verifier, token)

    assert error.message == reason


async def test_the_claim_names_come_from_the_config(
    key: SigningKey, tmp_path: Path
) -> None:
    config = _keys_config(
        "jwks",
        keys=[key],
        tmp_path=tmp_path,
        orgs_claim="tenants",
        dealer_claim="shop",
        scope_claim="scp",
    )
    token = issue(
        key,
        orgs=None,
        dealer=None,
        extra={"tenants": ["masmovil"], "shop": "DEALER002", "scp": ["devices:read"]},
    )

    async with open_verifier(config) as verifier:
        caller = await verifier.verify(token)

    assert caller == Caller(
        subject="portal",
        orgs=frozenset({"masmovil"}),
        dealer="DEALER002",
        scopes=frozenset({"devices:read"}),
    )


@pytest.mark.parametrize(
    ("leeway", "accepted"), [(30, True), (0, False)], ids=["leeway", "none"]
)
async def test_the_leeway_forgives_a_little_clock_skew_on_exp_and_nbf(
    key: SigningKey, tmp_path: Path, leeway: int, accepted: bool
) -> None:
    config = _keys_config("pem", keys=[key], tmp_path=tmp_path, leeway=leeway)
    just_expired = issue(key, lifetime=-10)
    nearly_valid = issue(key, not_before=10)

    async with open_verifier(config) as verifier:
        outcomes = []
        for token in (just_expired, nearly_valid):
            try:
                await verifier.verify(token)
                outcomes.append(True)
            except Unauthorized:
                outcomes.append(False)

    assert outcomes == [accepted, accepted]


async def test_a_remembered_token_is_refused_once_it_expires(
    key: SigningKey, tmp_path: Path
) -> None:
    config = _keys_config("pem", keys=[key], tmp_path=tmp_path, leeway=0)
    # At least a second ahead, whatever the fraction of the current second.
    token = issue(key, lifetime=2)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]

    async with open_verifier(config) as verifier:
        first = await verifier.verify(token)
        second = await verifier.verify(token)
        await asyncio.sleep(expires - time.time() + 0.05)
        error = await _refusal(verifier, token)

    assert first == second == PORTAL
    assert error.message == "bearer token has expired"


async def test_a_jwk_that_names_its_algorithm_accepts_only_that_one(
    key: SigningKey, tmp_path: Path
) -> None:
    pinned = SigningKey(
        kid=key.kid,
        algorithm="RS512",
        private_pem=key.private_pem,
        public_pem=key.public_pem,
        jwk={**key.jwk, "alg": "RS512"},
    )
    config = _config(
        algorithms=("RS256", "RS512"),
        jwks_file=write_jwks(tmp_path / "jwks.json", pinned),
    )

    async with open_verifier(config) as verifier:
        error = await _refusal(verifier, issue(key))
        caller = await verifier.verify(issue(pinned))

    assert error.message == "bearer token algorithm is not accepted"
    assert caller == PORTAL


async def test_an_algorithm_that_is_not_configured_is_refused(
    key: SigningKey, tmp_path: Path
) -> None:
    ps256 = SigningKey(
        kid=key.kid,
        algorithm="PS256",
        private_pem=key.private_pem,
        public_pem=key.public_pem,
        jwk=key.jwk,
    )
    config = _keys_config("pem", keys=[key], tmp_path=tmp_path)

    async with open_verifier(config) as verifier:
        error = await _refusal(verifier, issue(ps256))

    assert error.message == "bearer token algorithm is not accepted"


async def test_a_token_without_kid_serves_a_pem_key_but_not_a_jwks(
    key: SigningKey, tmp_path: Path
) -> None:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "portal", "exp": 2**33}
    token = jwt.encode(claims, key.private_pem, algorithm="RS256")
    pem_config = _keys_config("pem", keys=[key], tmp_path=tmp_path)
    jwks_config = _keys_config("jwks", keys=[key], tmp_path=tmp_path)

    async with open_verifier(pem_config) as pem, open_verifier(jwks_config) as jwks:
        caller = await pem.verify(token)
        error = await _refusal(jwks, token)

    assert caller.subject == "portal"
    assert error.message == "bearer token lacks header kid"


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "a.b.c",
        "a.b.c.d",
        "eyJ.eyJ.",
        "W10.e30.",  # a header that is a JSON list
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS0xIn0.bm90IGpzb24.c2ln",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS0xIn0.W10.c2ln",  # claims a list
        "eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.e30.c2ln",  # kid a number
        "eyJhbGciOlsiUlMyNTYiXX0.e30.c2ln",  # alg a list
        "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsieCJdfQ.e30.c2ln",  # unknown crit
        "\u00e9\u00e9.\u00e9\u00e9.\u00e9\u00e9",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS0xIn0.e30." + "A" * 5000,
    ],
)
async def test_garbage_is_refused_with_unauthorized_and_nothing_else(
    verifier: JwtVerifier, token: str
) -> None:
    error = await _refusal(verifier, token)

    assert error.message.startswith("bearer token ")


async def test_a_wrong_length_es256_signature_is_refused_as_invalid(
    tmp_path: Path,
) -> None:
    ec_key = new_signing_key(kid="key-ec", algorithm="ES256")
    config = _keys_config("jwks", keys=[ec_key], tmp_path=tmp_path)
    header, payload, _signature = issue(ec_key).split(".")

    async with open_verifier(config) as verifier:
        error = await _refusal(verifier, f"{header}.{payload}.AAAA")

    assert error.message == "bearer token signature is invalid"


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ("RS256", "HS512"), ()])
def test_a_config_with_a_symmetric_algorithm_or_none_is_refused(
    algorithms: tuple[str, ...], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="algorithm"):
        _config(public_key_file=tmp_path / "public.pem", algorithms=algorithms)


def test_a_config_needs_exactly_one_key_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        _config(public_key_file=tmp_path / "a.pem", jwks_url="http://127.0.0.1:1/")


def _weak_rsa_pem() -> bytes:
    # A weak key, to see it refused.
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    return weak.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    ("kind", "content", "reason"),
    [
        ("pem", b"not a key", "holds no PEM public key"),
        ("pem", "private", "holds no PEM public key"),
        ("pem", "weak", "under 2048"),
        ("pem", "ec-only-rs256", "fits none of the accepted algorithms"),
        ("jwks", b"{not json", "is not JSON"),
        ("jwks", b'{"keys": "none"}', "not a JWK Set"),
        ("jwks", b'{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}', "no key"),
        (
            "jwks",
            b'{"keys": [{"kty": "RSA", "kid": "k", "n": "x", "e": "AQ"}]}',
            "no key",
        ),
    ],
)
async def test_a_key_file_that_cannot_serve_is_refused_at_start_up(
    key: SigningKey, tmp_path: Path, kind: str, content: bytes | str, reason: str
) -> None:
    path = tmp_path / f"keys.{kind}"
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    if content == "private":
        content = key.private_pem
    elif content == "weak":
        content = _weak_rsa_pem()
    elif content == "ec-only-rs256":
        content = new_signing_key(algorithm="ES256").public_pem
        algorithms = ("RS256",)
    assert isinstance(content, bytes)
    path.write_bytes(content)
    source = "public_key_file" if kind == "pem" else "jwks_file"
    config = _config(algorithms=algorithms, **{source: path})

    with pytest.raises(KeySourceError) as caught:
        async with open_verifier(config):
            pass

    assert str(caught.value).startswith(str(path))
    assert reason in str(caught.value)


async def test_a_missing_key_file_is_refused_at_start_up(tmp_path: Path) -> None:
    config = _config(jwks_file=tmp_path / "missing.json")

    with pytest.raises(KeySourceError, match="cannot be read"):
        async with open_verifier(config):
            pass


async def test_unusable_keys_in_a_jwks_are_skipped_and_the_rest_serve(
    key: SigningKey, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    keys = [
        {"kty": "oct", "kid": "shared", "k": "c2VjcmV0"},
        {**key.jwk, "kid": "encryption", "use": "enc"},
        {**key.jwk, "kid": "hmac", "alg": "HS256"},
        key.jwk,
    ]
    path.write_text(json.dumps({"keys": keys}))

    with capture_logs() as logs:
        async with open_verifier(_config(jwks_file=path)) as verifier:
            caller = await verifier.verify(issue(key))
            error = await _refusal(verifier, issue(key, kid="hmac"))

    assert caller == PORTAL
    assert error.message == "bearer token is signed with an unknown key"
    skipped = [log["kid"] for log in logs if log["event"] == "jwks key skipped"]
    assert skipped == ["shared", "encryption", "hmac"]


# The issuer's JWKS over HTTP.


class FakeIssuer:
    """A JWKS endpoint on 127.0.0.1 that counts its requests and can go down."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.requests = 0
        self.status = 200
        self.body: bytes | None = None
        self.delay = 0.0
        self._server = _IssuerServer(("127.0.0.1", 0), _JwksHandler)
        self._server.issuer = self
        self.url = f"http://127.0.0.1:{self._server.server_port}/.well-known/jwks.json"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()
        self._running = True

    def answer(self) -> tuple[int, bytes]:
        self.requests += 1
        time.sleep(self.delay)
        if self.body is not None:
            return self.status, self.body
        return self.status, json.dumps({"keys": [k.jwk for k in self.keys]}).encode()

    def stop(self) -> None:
        """Close the port: from now on, connections are refused."""
        if self._running:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._running = False


class _IssuerServer(ThreadingHTTPServer):
    issuer: FakeIssuer
    daemon_threads = True


class _JwksHandler(BaseHTTPRequestHandler):
    server: _IssuerServer

    def do_GET(self) -> None:
        status, body = self.server.issuer.answer()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        return


@pytest.fixture
def issuer(key: SigningKey) -> Iterator[FakeIssuer]:
    issuer = FakeIssuer(key)
    yield issuer
    issuer.stop()


async def test_a_jwks_url_is_fetched_once_for_many_tokens(
    issuer: FakeIssuer, key: SigningKey
) -> None:
    config = _config(jwks_url=issuer.url)

    async with open_verifier(config) as verifier:
        callers = [await verifier.verify(issue(key, subject=f"s{n}")) for n in range(5)]

    assert [caller.subject for caller in callers] == ["s0", "s1", "s2", "s3", "s4"]
    assert issuer.requests == 1


async def test_an_unknown_kid_fetches_the_set_again_and_verifies_after_rotation(
    issuer: FakeIssuer, key: SigningKey
) -> None:
    rotated = new_signing_key(kid="key-2", algorithm="ES256")
    config = _config(jwks_url=issuer.url)

    async with open_verifier(config) as verifier:
        await verifier.verify(issue(key))
        issuer.keys = [key, rotated]
        caller = await verifier.verify(issue(rotated))
        await verifier.verify(issue(rotated, subject="again"))

    assert caller == PORTAL
    assert issuer.requests == 2


async def test_concurrent_tokens_with_a_new_kid_share_one_fetch(
    issuer: FakeIssuer, key: SigningKey
) -> None:
    rotated = new_signing_key(kid="key-2", algorithm="ES256")
    tokens = [issue(rotated, subject=f"till-{n}") for n in range(20)]
    config = _config(jwks_url=issuer.url)

    async with open_verifier(config) as verifier:
        await verifier.verify(issue(key))
        issuer.keys = [key, rotated]
        issuer.delay = 0.2
        callers = await asyncio.gather(*(verifier.verify(t) for t in tokens))

    assert len({caller.subject for caller in callers}) == 20
    assert issuer.requests == 2


async def test_fetches_for_unknown_kids_are_rate_limited(
    issuer: FakeIssuer, key: SigningKey
) -> None:
    rotated = new_signing_key(kid="key-2", algorithm="ES256")
    stranger = new_signing_key(kid="key-3", algorithm="ES256")
    config = _config(jwks_url=issuer.url, jwks_min_refresh=0.5)

    async with open_verifier(config) as verifier:
        await verifier.verify(issue(key))
        issuer.keys = [key, rotated]
        too_soon = await _refusal(verifier, issue(rotated))
        after_first = issuer.requests
        await asyncio.sleep(0.55)
        caller = await verifier.verify(issue(rotated))
        for _ in range(10):
            await _refusal(verifier, issue(stranger))
        after_strangers = issuer.requests

    assert too_soon.message == "bearer token is signed with an unknown key"
    assert after_first == 1
    assert caller == PORTAL
    assert after_strangers == 2


async def test_a_set_older_than_its_ttl_is_fetched_again(
    issuer: FakeIssuer, key: SigningKey
) -> None:
    config = _config(jwks_url=issuer.url, jwks_cache_ttl=0.2)

    async with open_verifier(config) as verifier:
        await verifier.verify(issue(key, subject="first"))
        await asyncio.sleep(0.25)
        await verifier.verify(issue(key, subject="second"))

    assert issuer.requests == 2


async def test_keys_already_known_keep_serving_while_the_issuer_is_down(
    issuer: FakeIssuer, key: SigningKey
) -> None:
    config = _config(jwks_url=issuer.url, jwks_cache_ttl=0.1)

    async with open_verifier(config) as verifier:
        await verifier.verify(issue(key, subject="before"))
        issuer.stop()
        await asyncio.sleep(0.15)
        with capture_logs() as logs:
            caller = await verifier.verify(issue(key, subject="during"))

    assert caller.subject == "during"
    failures = [log for log in logs if log["event"] == "jwks fetch failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "warning"
    assert failures[0]["keys_kept"] == 1


async def test_with_no_key_known_an_issuer_down_means_auth_unavailable(
    issuer: FakeIssuer, key: SigningKey
) -> None:
    issuer.stop()
    config = _config(jwks_url=issuer.url)

    async with open_verifier(config) as verifier:
        with pytest.raises(AuthUnavailable):
            await verifier.verify(issue(key))


async def test_an_unknown_kid_while_the_issuer_is_down_means_auth_unavailable(
    issuer: FakeIssuer, key: SigningKey
) -> None:
    rotated = new_signing_key(kid="key-2", algorithm="ES256")
    config = _config(jwks_url=issuer.url)

    async with open_verifier(config) as verifier:
        await verifier.verify(issue(key))
        issuer.stop()
        with pytest.raises(AuthUnavailable):
            await verifier.verify(issue(rotated))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, b"{}"),
        (200, b"<html>"),
        (200, b'{"keys": []}'),
        (302, b""),
        (200, b'{"keys": [], "padding": "' + b"x" * 300_000 + b'"}'),
    ],
    ids=["503", "html", "no-keys", "redirect", "oversized"],
)
async def test_an_issuer_answering_something_unusable_counts_as_down(
    issuer: FakeIssuer, key: SigningKey, status: int, body: bytes
) -> None:
    issuer.status, issuer.body = status, body
    config = _config(jwks_url=issuer.url)

    async with open_verifier(config) as verifier:
        with capture_logs() as logs, pytest.raises(AuthUnavailable):
            await verifier.verify(issue(key))

    assert [log["event"] for log in logs] == ["jwks fetch failed"]


async def test_no_token_key_material_or_url_credentials_reach_the_log(
    issuer: FakeIssuer, key: SigningKey, refused: dict[str, str]
) -> None:
    token = issue(key)
    url = issuer.url.replace("http://", "http://reader:s3cret@") + "?api_key=s3cret"
    config = _config(jwks_url=url)

    with capture_logs() as logs:
        async with open_verifier(config) as verifier:
            await verifier.verify(token)
            for bad in refused.values():
                await _refusal(verifier, bad)

    text = json.dumps(logs, default=str)
    assert issuer.url in text
    assert "s3cret" not in text
    assert all(part not in text for part in token.split(".") if part)
    assert key.jwk["n"] not in text
    assert all(bad.split(".")[0] not in text for bad in refused.values())
