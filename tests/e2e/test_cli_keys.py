"""``masstock keys generate`` and ``masstock token issue``, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from masstock.adapters.tokens import TokenConfig, open_verifier
from masstock.domain.access import Caller
from tests.tokens import AUDIENCE, ISSUER, new_signing_key, write_jwks


def _masstock(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MASSTOCK_")}
    return subprocess.run(
        [sys.executable, "-m", "masstock", *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _generate(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    result = _masstock(
        "keys", "generate", "--out", str(folder), *options, cwd=folder.parent
    )
    assert result.returncode == 0, result.stderr
    return result


def _issue(key: Path, *options: str, env: dict[str, str] | None = None) -> str:
    result = _masstock(
        "token", "issue", "--key", str(key), *options, cwd=key.parent, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    return result.stdout.strip()


def test_keys_generate_writes_a_key_pair_and_a_jwks_and_prints_the_settings(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"

    result = _generate(keys, "--kid", "local-1")

    assert (keys / "private.pem").stat().st_mode & 0o777 == 0o600
    assert (keys / "public.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")
    (jwk,) = json.loads((keys / "jwks.json").read_text())["keys"]
    assert (jwk["kid"], jwk["alg"], jwk["use"], jwk["kty"]) == (
        "local-1",
        "RS256",
        "sig",
        "RSA",
    )
    assert "d" not in jwk
    assert "MASSTOCK_AUTH=jwt" in result.stdout
    assert f"MASSTOCK_JWT_JWKS_FILE={keys.resolve() / 'jwks.json'}" in result.stdout
    assert "MASSTOCK_JWT_ALGORITHMS=RS256" in result.stdout
    assert "PRIVATE KEY" not in result.stdout


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_a_token_issued_with_a_generated_key_verifies_against_its_jwks(
    tmp_path: Path, algorithm: str
) -> None:
    keys = tmp_path / "keys"
    _generate(keys, "--algorithm", algorithm)
    config = TokenConfig(
        jwks_file=keys / "jwks.json",
        algorithms=(algorithm,),
        issuer=ISSUER,
        audience=AUDIENCE,
    )

    token = _issue(
        keys / "private.pem",
        *("--org", "yoigo", "--org", "lowi", "--dealer", "DEALER001"),
        *("--scope", "reservations:write", "--scope", "devices:read"),
        *("--subject", "pos-madrid", "--ttl", "600"),
        *("--issuer", ISSUER, "--audience", AUDIENCE),
    )

    async with open_verifier(config) as verifier:
        caller = await verifier.verify(token)
    assert caller == Caller(
        subject="pos-madrid",
        orgs=frozenset({"yoigo", "lowi"}),
        dealer="DEALER001",
        scopes=frozenset({"reservations:write", "devices:read"}),
    )
    (jwk,) = json.loads((keys / "jwks.json").read_text())["keys"]
    assert jwt.get_unverified_header(token) == {
        "alg": algorithm,
        "kid": jwk["kid"],
        "typ": "JWT",
    }
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600


async def test_issuer_audience_and_claim_names_default_to_the_service_settings(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    _generate(keys)
    settings = {
        "MASSTOCK_JWT_ISSUER": "https://sso.masstock.example",
        "MASSTOCK_JWT_AUDIENCE": "stock-api",
        "MASSTOCK_JWT_ORGS_CLAIM": "tenants",
    }
    config = TokenConfig(
        jwks_file=keys / "jwks.json",
        issuer="https://sso.masstock.example",
        audience="stock-api",
        orgs_claim="tenants",
    )

    token = _issue(
        keys / "private.pem",
        *("--org", "yoigo", "--scope", "reservations:admin"),
        env=settings,
    )

    async with open_verifier(config) as verifier:
        caller = await verifier.verify(token)
    assert caller == Caller(
        subject="masstock-cli",
        orgs=frozenset({"yoigo"}),
        dealer=None,
        scopes=frozenset({"reservations:admin"}),
    )


def test_a_private_key_is_replaced_only_with_force(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    _generate(keys)
    first = (keys / "private.pem").read_bytes()

    refused = _masstock("keys", "generate", "--out", str(keys), cwd=tmp_path)
    kept = (keys / "private.pem").read_bytes()
    _generate(keys, "--force")

    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "--force" in refused.stderr
    assert kept == first
    assert (keys / "private.pem").read_bytes() != first
    assert (keys / "private.pem").stat().st_mode & 0o777 == 0o600


@pytest.fixture
def key_files(tmp_path: Path) -> Path:
    """A private key with its jwks.json beside it, as `keys generate` leaves them."""
    key = new_signing_key(kid="key-1", algorithm="RS256")
    (tmp_path / "private.pem").write_bytes(key.private_pem)
    write_jwks(tmp_path / "jwks.json", key)
    return tmp_path / "private.pem"


_GRANTS = ("--org", "yoigo", "--scope", "devices:read")
# A later option of the same name wins: each case below spoils one of these.
_ISSUE = ("token", "issue", "--key", "KEY", "--issuer", ISSUER, "--audience", AUDIENCE)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("keys", "generate"), "--out"),
        (("keys", "generate", "--out", "k", "--algorithm", "HS256"), "--algorithm"),
        (("keys", "generate", "--out", "k", "--kid", " "), "--kid"),
        (("token", "issue", "--key", "KEY", *_GRANTS), "--issuer"),
        (("token", "issue", *_GRANTS, *_ISSUE[4:]), "--key"),
        ((*_ISSUE, *_GRANTS, "--key", "missing.pem"), "--key"),
        ((*_ISSUE, *_GRANTS, "--key", "jwks.json"), "--key"),
        ((*_ISSUE, "--scope", "devices:read"), "--org"),
        ((*_ISSUE, "--org", "yoigo"), "--scope"),
        ((*_ISSUE, *_GRANTS, "--scope", "devices:write"), "--scope"),
        ((*_ISSUE, *_GRANTS, "--dealer", "DEALER 1"), "--dealer"),
        ((*_ISSUE, *_GRANTS, "--ttl", "0"), "--ttl"),
        ((*_ISSUE, *_GRANTS, "--ttl", "soon"), "--ttl"),
        ((*_ISSUE, *_GRANTS, "--algorithm", "ES256"), "--algorithm"),
        ((*_ISSUE, *_GRANTS, "--algorithm", "HS256"), "--algorithm"),
    ],
)
def test_a_bad_option_exits_2_with_one_line_naming_it(
    key_files: Path, options: tuple[str, ...], named: str
) -> None:
    args = [str(key_files) if option == "KEY" else option for option in options]

    result = _masstock(*args, cwd=key_files.parent)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"masstock: bad option {named}")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("setting", "content", "complaint"),
    [
        ("MASSTOCK_JWT_JWKS_FILE", "not json", "is not JSON"),
        ("MASSTOCK_JWT_PUBLIC_KEY_FILE", "not a key", "holds no PEM public key"),
    ],
)
def test_serve_refuses_a_key_file_that_cannot_check_tokens_in_one_line(
    tmp_path: Path, setting: str, content: str, complaint: str
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(content)

    result = _masstock(
        "serve",
        cwd=tmp_path,
        env={
            "MASSTOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'masstock.db'}",
            "MASSTOCK_AUTH": "jwt",
            setting: str(keys),
            "MASSTOCK_JWT_ISSUER": ISSUER,
            "MASSTOCK_JWT_AUDIENCE": AUDIENCE,
        },
    )

    assert result.returncode == 2
    assert result.stderr.startswith(f"masstock: bad key file {keys}: {complaint}")
    assert result.stderr.count("\n") == 1
