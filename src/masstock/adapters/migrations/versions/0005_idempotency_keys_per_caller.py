"""Idempotency keys per caller: the same key from two callers is two keys.

A key was an org's; now it is a caller's within the org, so that one caller
never replays another's answer.  Keys kept so far belong to the anonymous
caller (""), which every request is while authentication is off.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_KEY = "idempotency_keys_pkey"


def upgrade() -> None:
    # SQLite cannot change a primary key in place: batch mode copies the table
    # into a new one, rows and indexes included; PostgreSQL alters it.
    with op.batch_alter_table("idempotency_keys") as table:
        table.add_column(
            sa.Column("caller", sa.Text(), nullable=False, server_default="")
        )
        table.drop_constraint(_KEY, type_="primary")
        table.create_primary_key(_KEY, ["org", "caller", "key"])


def downgrade() -> None:
    # Two callers' keys may share a name; only the anonymous caller's fit the
    # older key.  The others are retry answers, safe to forget.
    op.execute("DELETE FROM idempotency_keys WHERE caller <> ''")
    with op.batch_alter_table("idempotency_keys") as table:
        table.drop_constraint(_KEY, type_="primary")
        table.create_primary_key(_KEY, ["org", "key"])
        table.drop_column("caller")
