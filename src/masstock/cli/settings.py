"""``masstock settings``: every setting, its default and meaning, from the model.

``docs/operations.md`` holds the same table between two markers; ``make docs``
writes it there again, and a test fails when the two differ.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

BEGIN = "<!-- settings: begin (make docs writes this table) -->"
END = "<!-- settings: end -->"


def settings_table() -> str:
    """A Markdown table of every setting: name, default and meaning."""
    from masstock.settings import Settings

    rows = ["| setting | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = _shown(field.default)
        rows.append(f"| `MASSTOCK_{name.upper()}` | {default} | {field.description} |")
    return "\n".join(rows) + "\n"


def with_table(document: str) -> str:
    """``document`` with the text between the markers replaced by the table."""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if pattern.search(document) is None:
        raise ValueError(f"no {BEGIN} ... {END} block")
    return pattern.sub(lambda _: f"{BEGIN}\n{settings_table()}{END}", document)


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def settings(
    write: Annotated[
        Path | None,
        typer.Option(help="Rewrite the table between the markers of this file."),
    ] = None,
) -> None:
    """Print every setting with its default and meaning, as a Markdown table."""
    if write is None:
        typer.echo(settings_table(), nl=False)
        return
    write.write_text(with_table(write.read_text(encoding="utf-8")), encoding="utf-8")
