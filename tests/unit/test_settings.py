"""Settings from the environment, and what a bad one says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from masstock.settings import DEFAULT_ORGS, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("MASSTOCK_"):
            monkeypatch.delenv(name)


def test_the_default_is_an_sqlite_file_and_the_usual_orgs() -> None:
    settings = load_settings()

    assert settings.is_sqlite
    assert settings.sqlite_path == "masstock.db"
    assert "yoigo" in settings.orgs
    assert settings.orgs == DEFAULT_ORGS


def test_orgs_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSTOCK_ORGS", "yoigo, masmovil ,lowi")

    assert load_settings().orgs == ("yoigo", "masmovil", "lowi")


def test_a_postgresql_url_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSTOCK_DATABASE_URL", "postgresql://postgres@127.0.0.1/db")

    settings = load_settings()

    assert not settings.is_sqlite


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("MASSTOCK_DATABASE_URL", "mysql://root@localhost/db", "MASSTOCK_DATABASE_URL"),
        ("MASSTOCK_DATABASE_URL", "sqlite:///", "MASSTOCK_DATABASE_URL"),
        ("MASSTOCK_ORGS", " , ", "MASSTOCK_ORGS: must name at least one"),
        ("MASSTOCK_ORGS", "yoigo,más móvil", "MASSTOCK_ORGS: not a valid organization"),
        ("MASSTOCK_DB_POOL_SIZE", "many", "MASSTOCK_DB_POOL_SIZE"),
        ("MASSTOCK_DB_POOL_SIZE", "0", "MASSTOCK_DB_POOL_SIZE"),
    ],
)
def test_a_bad_setting_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, error: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert str(caught.value).startswith(error)
    assert "\n" not in str(caught.value)


def test_the_inventory_token_may_come_from_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "inventory-token"
    token_file.write_text("token-from-a-file\n")
    monkeypatch.setenv("MASSTOCK_INVENTORY_URL", "http://127.0.0.1:9090")
    monkeypatch.setenv("MASSTOCK_INVENTORY_TOKEN_FILE", str(token_file))

    settings = load_settings()

    assert settings.inventory_bearer_token() == "token-from-a-file"
    assert "token-from-a-file" not in repr(settings)


def test_a_secret_setting_never_shows_in_the_settings_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MASSTOCK_INVENTORY_URL", "http://127.0.0.1:9090")
    monkeypatch.setenv("MASSTOCK_INVENTORY_TOKEN", "hunter2-token")

    assert "hunter2-token" not in repr(load_settings())


@pytest.mark.parametrize(
    ("environment", "error"),
    [
        ({"MASSTOCK_INVENTORY_URL": "ftp://inventory"}, "MASSTOCK_INVENTORY_URL"),
        (
            {"MASSTOCK_SIM_INVENTORY_URL": "http://127.0.0.1:9091"},
            "MASSTOCK_SIM_INVENTORY_URL needs MASSTOCK_INVENTORY_URL",
        ),
        (
            {
                "MASSTOCK_INVENTORY_URL": "http://127.0.0.1:9090",
                "MASSTOCK_INVENTORY_CLIENT_ID": "masstock",
            },
            "MASSTOCK_INVENTORY_TOKEN_URL, _CLIENT_ID and _CLIENT_SECRET go together",
        ),
        (
            {
                "MASSTOCK_INVENTORY_URL": "http://127.0.0.1:9090",
                "MASSTOCK_INVENTORY_TOKEN": "a",
                "MASSTOCK_INVENTORY_TOKEN_URL": "http://127.0.0.1:9090/oauth/token",
                "MASSTOCK_INVENTORY_CLIENT_ID": "masstock",
                "MASSTOCK_INVENTORY_CLIENT_SECRET": "b",
            },
            "choose one of MASSTOCK_INVENTORY_TOKEN",
        ),
        (
            {"MASSTOCK_INVENTORY_TOKEN_FILE": "/nonexistent/token"},
            "MASSTOCK_INVENTORY_TOKEN_FILE: no such file",
        ),
    ],
)
def test_bad_inventory_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], error: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert str(caught.value).startswith(error)
