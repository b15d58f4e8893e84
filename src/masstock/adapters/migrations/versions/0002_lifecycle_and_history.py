"""Expiry, close reasons, the history of each reservation, and search indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UUID = sa.Uuid().with_variant(sa.String(36), "sqlite")
_TIME = sa.DateTime(timezone=True)
_ACTIVE = sa.text("status = 'CREATED'")
_EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("reservations") as table:
        table.add_column(sa.Column("expires_at", _TIME, nullable=True))
        table.add_column(sa.Column("close_reason", sa.String(32), nullable=True))

    # A dealer's page, a device's history and an org's page, newest first, each
    # walked by keyset (created_at, id); and the sweeper's queue of due holds.
    op.create_index(
        "reservations_by_dealer",
        "reservations",
        ["org", "dealer_id", "created_at", "id"],
    )
    op.create_index(
        "reservations_by_device",
        "reservations",
        ["org", "device_id", "created_at", "id"],
    )
    op.create_index("reservations_by_org", "reservations", ["org", "created_at", "id"])
    # What a dealer holds now: a short walk however long its history.
    op.create_index(
        "reservations_active_by_dealer",
        "reservations",
        ["org", "dealer_id", "created_at", "id"],
        postgresql_where=_ACTIVE,
        sqlite_where=_ACTIVE,
    )
    op.create_index(
        "reservations_due",
        "reservations",
        ["expires_at"],
        postgresql_where=_ACTIVE,
        sqlite_where=_ACTIVE,
    )

    op.create_table(
        "reservation_events",
        sa.Column("id", _EVENT_ID, sa.Identity(), nullable=False),
        sa.Column("reservation_id", _UUID, nullable=False),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="reservation_events_pkey"),
        sa.CheckConstraint(
            "kind IN ('CREATED', 'CANCELLED', 'FINALIZED', 'EXPIRED', 'EXTENDED')",
            name="reservation_events_kind",
        ),
    )
    op.create_index(
        "reservation_events_by_reservation",
        "reservation_events",
        ["reservation_id", "id"],
    )


def downgrade() -> None:
    op.drop_table("reservation_events")
    op.drop_index("reservations_due", table_name="reservations")
    op.drop_index("reservations_active_by_dealer", table_name="reservations")
    op.drop_index("reservations_by_org", table_name="reservations")
    op.drop_index("reservations_by_device", table_name="reservations")
    op.drop_index("reservations_by_dealer", table_name="reservations")
    with op.batch_alter_table("reservations") as table:
        table.drop_column("close_reason")
        table.drop_column("expires_at")
