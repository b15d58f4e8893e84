"""Settings, read from the environment with the prefix ``MASSTOCK_``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from masstock.domain.access import SIGNATURE_ALGORITHMS
from masstock.domain.identifiers import IDENTIFIER
from masstock.service.reservations import Holding

DEFAULT_ORGS = ("yoigo", "masmovil", "pepephone", "lebara", "lowi")


class Settings(BaseSettings):
    """Everything the service can be told at start-up."""

    model_config = SettingsConfigDict(env_prefix="MASSTOCK_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///masstock.db",
        description=(
            "`sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, or "
            "`postgresql://user@host:port/db`"
        ),
    )
    orgs: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_ORGS,
        description=(
            "the registered organizations, comma-separated; any other org is 404 "
            "`ORGANIZATION_NOT_FOUND`"
        ),
    )
    db_pool_size: int = Field(
        default=8,
        ge=1,
        le=200,
        description=(
            "PostgreSQL connections per process; excess requests queue for one, first"
            " come first served"
        ),
    )
    db_timeout: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description=(
            "seconds to wait for a connection or a statement before answering 503"
        ),
    )
    reservation_ttl: int = Field(
        default=72 * 3600,
        ge=0,
        description="seconds a new hold lasts (72 h); `0`: holds never expire",
    )
    reservation_max_ttl: int = Field(
        default=30 * 24 * 3600,
        ge=1,
        description=(
            "the longest `ttl_seconds` an extension may ask for, in seconds (30 days)"
        ),
    )
    sweep_interval: float = Field(
        default=30.0,
        ge=0,
        description=(
            "seconds between the expiry sweeps inside `serve`; `0`: no sweeper (run "
            "`masstock reservations expire` from cron instead)"
        ),
    )
    sweep_batch: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="expired holds written down per transaction",
    )
    inventory_url: str | None = Field(
        default=None,
        description=(
            "the logistics stock API; unset: devices come from the catalog table"
        ),
    )
    sim_inventory_url: str | None = Field(
        default=None,
        description=(
            "the stock API of SIM cards, if not the same as `MASSTOCK_INVENTORY_URL`"
        ),
    )
    inventory_token: SecretStr | None = Field(
        default=None,
        description="a static bearer token for the stock API (secret)",
    )
    inventory_token_file: Path | None = Field(
        default=None,
        description="a file holding that token, read at start-up",
    )
    inventory_token_url: str | None = Field(
        default=None,
        description="OAuth2 token endpoint, for client credentials",
    )
    inventory_client_id: str | None = Field(
        default=None,
        description="OAuth2 client id",
    )
    inventory_client_secret: SecretStr | None = Field(
        default=None,
        description="OAuth2 client secret (secret)",
    )
    inventory_connect_timeout: float = Field(
        default=0.25,
        gt=0,
        le=60,
        description="seconds to connect, per attempt",
    )
    inventory_read_timeout: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="seconds to read an answer, per attempt",
    )
    inventory_deadline: float = Field(
        default=0.8,
        gt=0,
        le=60,
        description="seconds for a whole lookup, retries included",
    )
    inventory_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="attempts per lookup",
    )
    inventory_breaker_failures: int = Field(
        default=5,
        ge=1,
        description="consecutive failures that open an upstream's circuit",
    )
    inventory_breaker_cool_down: float = Field(
        default=10.0,
        gt=0,
        description="seconds an open circuit waits before a trial call",
    )
    inventory_cache_size: int = Field(
        default=100_000,
        ge=0,
        description="devices remembered per upstream",
    )
    inventory_cache_ttl: float = Field(
        default=300.0,
        ge=0,
        description=(
            "seconds a found device is answered from the cache; `0` turns the cache off"
        ),
    )
    inventory_cache_negative_ttl: float = Field(
        default=30.0,
        ge=0,
        description='seconds a "not found" is answered from the cache',
    )
    inventory_cache_max_stale: float = Field(
        default=3600.0,
        ge=0,
        description=(
            "seconds an old answer may still be served while the upstream fails"
        ),
    )
    inventory_max_body: int = Field(
        default=65536,
        ge=1024,
        description="bytes; a longer answer from the stock API is refused",
    )
    idempotency_ttl: int = Field(
        default=24 * 3600,
        ge=60,
        description="seconds an idempotency key and its answer are kept",
    )
    shutdown_grace: int = Field(
        default=20,
        ge=1,
        le=600,
        description=(
            "seconds a SIGTERM lets accepted requests finish before the process exits"
        ),
    )
    auth: Literal["none", "jwt"] = Field(
        default="none",
        description=(
            "`none` (anyone may act for any org and dealer) or `jwt` (bearer tokens)"
        ),
    )
    jwt_public_key_file: Path | None = Field(
        default=None,
        description="the issuer's public key, PEM; one key source with `jwt`",
    )
    jwt_jwks_file: Path | None = Field(
        default=None,
        description="the issuer's keys, a JWKS file; one key source with `jwt`",
    )
    jwt_jwks_url: str | None = Field(
        default=None,
        description=(
            "the issuer's keys, a JWKS URL, refetched when stale; one key source with"
            " `jwt`"
        ),
    )
    jwt_algorithms: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("RS256",),
        description=(
            "comma-separated, from RS256/384/512, PS256/384/512, ES256/384/512, EdDSA"
        ),
    )
    jwt_issuer: str | None = Field(
        default=None,
        description="the `iss` a token must carry; needed with `jwt`",
    )
    jwt_audience: str | None = Field(
        default=None,
        description="the `aud` a token must carry; needed with `jwt`",
    )
    jwt_leeway: int = Field(
        default=30,
        ge=0,
        le=300,
        description="seconds of clock skew allowed on `exp` and `nbf`",
    )
    jwt_jwks_cache_ttl: float = Field(
        default=3600.0,
        gt=0,
        description="seconds a fetched JWKS is kept",
    )
    jwt_jwks_min_refresh: float = Field(
        default=30.0,
        ge=0,
        description="the least seconds between two fetches for an unknown `kid`",
    )
    jwt_orgs_claim: str = Field(
        default="orgs",
        description="the claim naming the orgs a token may act in",
    )
    jwt_dealer_claim: str = Field(
        default="dealer_id",
        description="the claim binding a token to one dealer",
    )
    jwt_scope_claim: str = Field(
        default="scope",
        description="the claim holding a token's scopes",
    )
    dealer_max_active: int = Field(
        default=0,
        ge=0,
        description="active reservations a dealer may hold per org; `0`: no cap",
    )
    rate_limit: str | None = Field(
        default=None,
        description=(
            "requests per caller, in the `limits` notation (`20/second;1000/minute`);"
            " unset: no limit"
        ),
    )
    redis_url: str | None = Field(
        default=None,
        description="`redis://host:6379/0`, to share the rate limit between replicas",
    )
    max_header_bytes: int = Field(
        default=16384,
        ge=1024,
        le=1_048_576,
        description="request headers, names and values, in all; more is 431",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        description="`debug`, `info`, `warning` or `error`",
    )
    log_format: Literal["console", "json"] = Field(
        default="console",
        description="`console` (readable) or `json` (one event per line)",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
            return url
        if url.startswith(("postgresql://", "postgres://")):
            return url
        message = "must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        raise ValueError(message)

    @field_validator("orgs", mode="before")
    @classmethod
    def _split_orgs(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(org.strip() for org in value.split(",") if org.strip())
        return value

    @field_validator("orgs")
    @classmethod
    def _valid_orgs(cls, orgs: tuple[str, ...]) -> tuple[str, ...]:
        if not orgs:
            raise ValueError("must name at least one organization")
        bad = [org for org in orgs if not IDENTIFIER.fullmatch(org)]
        if bad:
            raise ValueError(f"not a valid organization name: {bad[0]!r}")
        return orgs

    @field_validator("inventory_url", "sim_inventory_url", "inventory_token_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None or url.startswith(("http://", "https://")):
            return url
        raise ValueError("must be an http:// or https:// URL")

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_algorithms(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if not names:
            raise ValueError("must name at least one algorithm")
        bad = [name for name in names if name not in SIGNATURE_ALGORITHMS]
        if bad:
            allowed = ", ".join(SIGNATURE_ALGORITHMS)
            raise ValueError(f"{bad[0]!r} is not accepted; choose from {allowed}")
        return names

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from limits import parse_many  # noqa: PLC0415 (only when one is set)

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                "must be limits like 20/second or 100/second;2000/minute"
            ) from None
        return value.strip()

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is None or url.startswith(("redis://", "rediss://")):
            return url
        raise ValueError("must be a redis:// or rediss:// URL")

    @field_validator("jwt_jwks_url")
    @classmethod
    def _jwks_url(cls, url: str | None) -> str | None:
        if url is None or url.startswith(("http://", "https://")):
            return url
        raise ValueError("must be an http:// or https:// URL")

    @field_validator("inventory_token_file", "jwt_public_key_file", "jwt_jwks_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    @model_validator(mode="after")
    def _one_kind_of_credentials(self) -> Settings:
        oauth = (
            self.inventory_token_url,
            self.inventory_client_id,
            self.inventory_client_secret,
        )
        if any(oauth) and not all(oauth):
            message = (
                "MASSTOCK_INVENTORY_TOKEN_URL, _CLIENT_ID and _CLIENT_SECRET "
                "go together"
            )
            raise ValueError(message)
        tokens = [
            self.inventory_token,
            self.inventory_token_file,
            self.inventory_client_id,
        ]
        if sum(value is not None for value in tokens) > 1:
            message = (
                "choose one of MASSTOCK_INVENTORY_TOKEN, _TOKEN_FILE "
                "or client credentials"
            )
            raise ValueError(message)
        if self.sim_inventory_url is not None and self.inventory_url is None:
            raise ValueError("MASSTOCK_SIM_INVENTORY_URL needs MASSTOCK_INVENTORY_URL")
        if self.auth == "jwt":
            self._check_jwt()
        return self

    def _check_jwt(self) -> None:
        sources = [
            self.jwt_public_key_file,
            self.jwt_jwks_file,
            self.jwt_jwks_url,
        ]
        if sum(source is not None for source in sources) != 1:
            message = (
                "MASSTOCK_AUTH=jwt needs one of MASSTOCK_JWT_PUBLIC_KEY_FILE, "
                "_JWKS_FILE or _JWKS_URL"
            )
            raise ValueError(message)
        if not self.jwt_issuer or not self.jwt_audience:
            message = "MASSTOCK_AUTH=jwt needs MASSTOCK_JWT_ISSUER and _AUDIENCE"
            raise ValueError(message)

    def inventory_bearer_token(self) -> str | None:
        """The static bearer token, from the setting or its file."""
        if self.inventory_token is not None:
            return self.inventory_token.get_secret_value()
        if self.inventory_token_file is not None:
            return self.inventory_token_file.read_text(encoding="utf-8").strip()
        return None

    @property
    def holding(self) -> Holding:
        """How long holds last and how many a dealer may keep, in service terms."""
        ttl = timedelta(seconds=self.reservation_ttl) if self.reservation_ttl else None
        return Holding(
            ttl=ttl,
            max_ttl=timedelta(seconds=self.reservation_max_ttl),
            dealer_limit=self.dealer_max_active or None,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @property
    def sqlite_path(self) -> str:
        return self.database_url.removeprefix("sqlite:///")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


def load_settings() -> Settings:
    """Read the settings, turning pydantic's report into one line per setting."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:
            raise SettingsError(message) from None
        name = "MASSTOCK_" + str(first["loc"][0]).upper()
        raise SettingsError(f"{name}: {message}") from None
