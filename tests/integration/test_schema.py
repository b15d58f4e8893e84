"""Migrations: applied once, whoever asks, on both backends."""

from __future__ import annotations

from masstock.adapters import schema


def test_upgrading_a_migrated_database_changes_nothing(database_url: str) -> None:
    revision = schema.upgrade(database_url)

    assert revision == schema.head_revision()
