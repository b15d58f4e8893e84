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

    database_url: str = "sqlite:///masstock.db"
    orgs: Annotated[tuple[str, ...], NoDecode] = DEFAULT_ORGS
    db_pool_size: int = Field(default=8, ge=1, le=200)
    db_timeout: float = Field(default=5.0, gt=0, le=300)
    reservation_ttl: int = Field(default=72 * 3600, ge=0)
    reservation_max_ttl: int = Field(default=30 * 24 * 3600, ge=1)
    sweep_interval: float = Field(default=30.0, ge=0)
    sweep_batch: int = Field(default=500, ge=1, le=100_000)
    inventory_url: str | None = None
    sim_inventory_url: str | None = None
    inventory_token: SecretStr | None = None
    inventory_token_file: Path | None = None
    inventory_token_url: str | None = None
    inventory_client_id: str | None = None
    inventory_client_secret: SecretStr | None = None
    inventory_connect_timeout: float = Field(default=0.25, gt=0, le=60)
    inventory_read_timeout: float = Field(default=0.5, gt=0, le=60)
    inventory_deadline: float = Field(default=0.8, gt=0, le=60)
    inventory_attempts: int = Field(default=3, ge=1, le=10)
    inventory_breaker_failures: int = Field(default=5, ge=1)
    inventory_breaker_cool_down: float = Field(default=10.0, gt=0)
    inventory_cache_size: int = Field(default=100_000, ge=0)
    inventory_cache_ttl: float = Field(default=300.0, ge=0)
    inventory_cache_negative_ttl: float = Field(default=30.0, ge=0)
    inventory_cache_max_stale: float = Field(default=3600.0, ge=0)
    inventory_max_body: int = Field(default=65536, ge=1024)
    idempotency_ttl: int = Field(default=24 * 3600, ge=60)
    shutdown_grace: int = Field(default=20, ge=1, le=600)
    auth: Literal["none", "jwt"] = "none"
    jwt_public_key_file: Path | None = None
    jwt_jwks_file: Path | None = None
    jwt_jwks_url: str | None = None
    jwt_algorithms: Annotated[tuple[str, ...], NoDecode] = ("RS256",)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway: int = Field(default=30, ge=0, le=300)
    jwt_jwks_cache_ttl: float = Field(default=3600.0, gt=0)
    jwt_jwks_min_refresh: float = Field(default=30.0, ge=0)
    jwt_orgs_claim: str = "orgs"
    jwt_dealer_claim: str = "dealer_id"
    jwt_scope_claim: str = "scope"
    dealer_max_active: int = Field(default=0, ge=0)
    rate_limit: str | None = None
    redis_url: str | None = None
    max_header_bytes: int = Field(default=16384, ge=1024, le=1_048_576)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

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
