"""docs/operations.md says what the code does: its settings and its metrics."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from masstock.adapters.metrics import Metrics
from masstock.cli.settings import with_table
from masstock.settings import Settings

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_guides_settings_table_is_the_one_the_settings_model_makes() -> None:
    text = GUIDE.read_text(encoding="utf-8")

    assert with_table(text) == text, "run `make docs` to write the table again"


def test_every_setting_has_a_meaning() -> None:
    missing = [name for name, f in Settings.model_fields.items() if not f.description]

    assert missing == []


def test_every_metric_the_service_exports_is_in_the_guide() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    families = text_string_to_metric_families(Metrics().exposition().decode())

    exported = {family.name for family in families}

    # Counters are documented under their exposed name, with ``_total``.
    documented = {
        name for name in exported if f"`{name}`" in text or f"`{name}_total`" in text
    }
    assert exported - documented == set()
    assert len(exported) >= 8
