"""``masstock keys`` and ``masstock token``: a signing key pair, and tokens from it.

For local runs and tests: in production the platform's identity provider holds
the signing keys and issues the tokens; the service only checks them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from masstock.domain.access import Scope

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    from masstock.adapters.tokens import PublicKey

    PrivateKey = (
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
    )

keys_app = typer.Typer(help="Keys that sign bearer tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens.", no_args_is_help=True)

_GENERATED = ("RS256", "ES256")
# The algorithm a key signs with when none is asked for, by preference.
_PREFERRED = ("RS256", "ES256", "ES384", "ES512", "EdDSA")
_PRIVATE = "private.pem"
_PUBLIC = "public.pem"
_JWKS = "jwks.json"
_SCOPES = ", ".join(Scope)


@keys_app.command("generate")
def generate(
    *,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder to write private.pem, public.pem and jwks.json to.",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    kid: Annotated[
        str | None,
        typer.Option(
            "--kid",
            help="Key id; by default the key's RFC 7638 thumbprint.",
            metavar="ID",
            show_default=False,
        ),
    ] = None,
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="RS256 or ES256.", metavar="ALG")
    ] = "RS256",
    force: Annotated[
        bool, typer.Option("--force", help="Replace a private key already there.")
    ] = False,
) -> None:
    """Write a new signing key pair and its JWKS; print the settings that use them."""
    if out is None:
        _fail("bad option --out: give the folder to write the keys to", code=2)
    if algorithm not in _GENERATED:
        _fail(f"bad option --algorithm: choose {' or '.join(_GENERATED)}", code=2)
    if kid is not None and not kid.strip():
        _fail("bad option --kid: must not be blank", code=2)
    private_path = out / _PRIVATE
    if private_path.exists() and not force:
        _fail(f"{private_path} exists; use --force to replace it", code=1)

    private = _new_private_key(algorithm)
    jwk = _public_jwk(private.public_key(), algorithm=algorithm)
    jwk["kid"] = kid or _thumbprint(jwk)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_secret(private_path, _private_pem(private), replace=force)
        (out / _PUBLIC).write_bytes(_public_pem(private))
        (out / _JWKS).write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    except FileExistsError:
        _fail(f"{private_path} exists; use --force to replace it", code=1)
    except OSError as exc:
        _fail(f"cannot write the keys to {out}: {exc.strerror}", code=1)

    folder = out.resolve()
    typer.echo(f"wrote {folder / _PRIVATE} (signs tokens: keep it secret)")
    typer.echo(f"wrote {folder / _PUBLIC}")
    typer.echo(f"wrote {folder / _JWKS} (kid {jwk['kid']})")
    typer.echo("to accept tokens signed with it, serve with:")
    for line in _settings_lines(folder / _JWKS, algorithm=algorithm):
        typer.echo(f"  {line}")


@token_app.command("issue")
def issue(  # noqa: PLR0913 (one parameter per option)
    *,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="The private key PEM, e.g. what `masstock keys generate` wrote.",
            metavar="PEM",
            show_default=False,
        ),
    ] = None,
    kid: Annotated[
        str | None,
        typer.Option(
            "--kid",
            help="Key id; by default the key's kid in the jwks.json beside it.",
            metavar="ID",
            show_default=False,
        ),
    ] = None,
    org: Annotated[
        list[str] | None,
        typer.Option(
            "--org",
            help="An org the token grants; repeat for more.",
            metavar="ORG",
            show_default=False,
        ),
    ] = None,
    dealer: Annotated[
        str | None,
        typer.Option(
            "--dealer",
            help="The one dealer the token acts for.",
            metavar="DEALER",
            show_default=False,
        ),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help=f"A scope the token grants ({_SCOPES}); repeat for more.",
            metavar="SCOPE",
            show_default=False,
        ),
    ] = None,
    subject: Annotated[
        str,
        typer.Option("--subject", help="Who the caller is (sub).", metavar="NAME"),
    ] = "masstock-cli",
    ttl: Annotated[
        str, typer.Option("--ttl", help="Seconds the token lasts.", metavar="SECONDS")
    ] = "3600",
    issuer: Annotated[
        str | None,
        typer.Option(
            "--issuer",
            help="The iss claim; by default MASSTOCK_JWT_ISSUER.",
            metavar="ISSUER",
            show_default=False,
        ),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience",
            help="The aud claim; by default MASSTOCK_JWT_AUDIENCE.",
            metavar="AUDIENCE",
            show_default=False,
        ),
    ] = None,
    algorithm: Annotated[
        str | None,
        typer.Option(
            "--algorithm",
            help="Signature algorithm; by default the key's (RS256 for RSA).",
            metavar="ALG",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print a bearer token signed with a private key."""
    import jwt

    claims = _claims(
        orgs=_orgs(org),
        dealer=_dealer(dealer),
        scopes=_scopes(scope),
        subject=subject,
        ttl=_seconds(ttl),
        issuer=_from_environment(issuer, option="--issuer", name="ISSUER"),
        audience=_from_environment(audience, option="--audience", name="AUDIENCE"),
    )
    if key is None:
        _fail("bad option --key: give the private key PEM to sign with", code=2)
    private = _read_private_key(key)
    jwk = _public_jwk(private.public_key(), algorithm=None)
    published = _published(key.parent / _JWKS, jwk=jwk)
    chosen = _algorithm(algorithm, key=private.public_key(), published=published)
    kid = kid or (published or {}).get("kid")
    if not isinstance(kid, str):
        typer.echo(
            f"masstock: warning: no kid for {key} (no {_JWKS} beside it holds it); "
            "the token names no key",
            err=True,
        )
        kid = None

    try:
        token = jwt.encode(
            claims,
            private,
            algorithm=chosen,
            headers=None if kid is None else {"kid": kid},
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        _fail(f"cannot sign with {key}: {exc}", code=1)
    typer.echo(token)


def _claims(  # noqa: PLR0913 (the claims of a token)
    *,
    orgs: list[str],
    dealer: str | None,
    scopes: list[str],
    subject: str,
    ttl: int,
    issuer: str,
    audience: str,
) -> dict[str, Any]:
    if not subject.strip():
        _fail("bad option --subject: must not be blank", code=2)

    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        _claim_name("jwt_orgs_claim"): orgs,
        _claim_name("jwt_scope_claim"): " ".join(scopes),
    }
    if dealer is not None:
        claims[_claim_name("jwt_dealer_claim")] = dealer
    return claims


def _claim_name(setting: str) -> str:
    """The name the service reads a claim under: its setting, or the default."""
    from masstock.settings import Settings

    configured = os.environ.get(f"MASSTOCK_{setting.upper()}")
    return configured or str(Settings.model_fields[setting].default)


def _seconds(ttl: str) -> int:
    seconds = int(ttl) if ttl.isascii() and ttl.isdigit() else 0
    if seconds <= 0:
        _fail("bad option --ttl: must be a positive whole number of seconds", code=2)
    return seconds


def _orgs(orgs: list[str] | None) -> list[str]:
    from masstock.domain.errors import ValidationFailed
    from masstock.domain.identifiers import check_identifier

    if not orgs:
        _fail("bad option --org: give at least one org the token grants", code=2)
    try:
        return [check_identifier("--org", org) for org in orgs]
    except ValidationFailed as exc:
        _fail(f"bad option {exc.message}", code=2)


def _dealer(dealer: str | None) -> str | None:
    from masstock.domain.errors import ValidationFailed
    from masstock.domain.identifiers import check_identifier

    if dealer is None:
        return None
    try:
        return check_identifier("--dealer", dealer)
    except ValidationFailed as exc:
        _fail(f"bad option {exc.message}", code=2)


def _scopes(scopes: list[str] | None) -> list[str]:
    if not scopes:
        _fail(f"bad option --scope: give at least one of {_SCOPES}", code=2)
    known = set(Scope)
    for scope in scopes:
        if scope not in known:
            message = f"bad option --scope: {scope!r} is not one of {_SCOPES}"
            _fail(message, code=2)
    return list(dict.fromkeys(scopes))


def _from_environment(value: str | None, *, option: str, name: str) -> str:
    setting = f"MASSTOCK_JWT_{name}"
    value = value or os.environ.get(setting)
    if not value or not value.strip():
        _fail(f"bad option {option}: give {option} or set {setting}", code=2)
    return value


def _read_private_key(path: Path) -> PrivateKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        data = path.read_bytes()
    except OSError as exc:
        _fail(f"bad option --key: cannot read {path} ({exc.strerror})", code=2)
    try:
        private = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        message = f"bad option --key: {path} holds no unencrypted PEM private key"
        _fail(message, code=2)
    kinds = (
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
    )
    if not isinstance(private, kinds):
        _fail(f"bad option --key: {path} is not an RSA, EC or EdDSA key", code=2)
    return private


def _algorithm(
    asked: str | None, *, key: PublicKey, published: dict[str, Any] | None
) -> str:
    from masstock.adapters.tokens import algorithms_for

    fits = algorithms_for(key)
    if asked is not None:
        if asked not in fits:
            choices = ", ".join(sorted(fits)) or "none"
            _fail(f"bad option --algorithm: this key signs with {choices}", code=2)
        return asked
    declared = (published or {}).get("alg")
    if isinstance(declared, str) and declared in fits:
        return declared
    preferred = [name for name in _PREFERRED if name in fits]
    if not preferred:
        _fail("bad option --key: no accepted signature algorithm fits it", code=2)
    return preferred[0]


def _published(path: Path, *, jwk: dict[str, Any]) -> dict[str, Any] | None:
    """The JWK in ``path`` with the same public key as ``jwk``, if any."""
    try:
        document = json.loads(path.read_bytes())
        candidates = document["keys"]
        mine = _thumbprint(jwk)
        for candidate in candidates:
            if isinstance(candidate, dict) and _thumbprint(candidate) == mine:
                return candidate
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


def _new_private_key(algorithm: str) -> PrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_jwk(public: PublicKey, *, algorithm: str | None) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    jwk: dict[str, Any]
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    # "use" says the same as "key_ops", and RFC 7517 asks for one of them only.
    jwk.pop("key_ops", None)
    if algorithm is not None:
        jwk.update(alg=algorithm, use="sig")
    return jwk


def _thumbprint(jwk: dict[str, Any]) -> str:
    """The key's RFC 7638 thumbprint: SHA-256 over its required members."""
    required = {
        "RSA": ("e", "kty", "n"),
        "EC": ("crv", "kty", "x", "y"),
        "OKP": ("crv", "kty", "x"),
    }[jwk["kty"]]
    canonical = json.dumps(
        {name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _private_pem(private: PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_pem(private: PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write_secret(path: Path, data: bytes, *, replace: bool) -> None:
    """Write ``data`` readable by its owner only, from the first byte on."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        # A file being replaced keeps its old mode unless told otherwise.
        os.fchmod(file.fileno(), 0o600)
        file.write(data)


def _settings_lines(jwks: Path, *, algorithm: str) -> list[str]:
    lines = [
        "MASSTOCK_AUTH=jwt",
        f"MASSTOCK_JWT_JWKS_FILE={jwks}",
        f"MASSTOCK_JWT_ALGORITHMS={algorithm}",
    ]
    for name, meaning in (("ISSUER", "iss"), ("AUDIENCE", "aud")):
        setting = f"MASSTOCK_JWT_{name}"
        value = os.environ.get(setting)
        lines.append(
            f"{setting}={value}"
            if value
            else f"{setting}=...  (the {meaning} your tokens carry)"
        )
    return lines


def _fail(message: str, *, code: int) -> NoReturn:
    typer.echo(f"masstock: {message}", err=True)
    raise typer.Exit(code)
