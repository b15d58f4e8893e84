"""Settings, read from the environment with the prefix ``MASSTOCK_``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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

    @property
    def holding(self) -> Holding:
        """How long holds last, in the service's terms."""
        ttl = timedelta(seconds=self.reservation_ttl) if self.reservation_ttl else None
        return Holding(ttl=ttl, max_ttl=timedelta(seconds=self.reservation_max_ttl))

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
        name = "MASSTOCK_" + str(first["loc"][0]).upper() if first["loc"] else "?"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
