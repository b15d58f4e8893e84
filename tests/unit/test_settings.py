"""Settings from the environment, and what a bad one says."""

from __future__ import annotations

import pytest

from masstock.settings import DEFAULT_ORGS, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MASSTOCK_DATABASE_URL", "MASSTOCK_ORGS", "MASSTOCK_DB_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)


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
