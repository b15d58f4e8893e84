"""Devices and reservations, with one active hold per device.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_UUID = sa.Uuid().with_variant(sa.String(36), "sqlite")
_TIME = sa.DateTime(timezone=True)
_ACTIVE = sa.text("status = 'CREATED'")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("identifier", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("mac", sa.String(17), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("org", "identifier", name="devices_pkey"),
        sa.CheckConstraint("kind IN ('sim', 'device')", name="devices_kind"),
    )
    op.create_table(
        "reservations",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("dealer_id", sa.String(64), nullable=False),
        sa.Column("is_sim", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("closed_at", _TIME, nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="reservations_pkey"),
        sa.CheckConstraint(
            "status IN ('CREATED', 'CANCELLED', 'FINALIZED')",
            name="reservations_status",
        ),
    )
    op.create_index(
        "reservations_one_active_hold",
        "reservations",
        ["org", "device_id"],
        unique=True,
        postgresql_where=_ACTIVE,
        sqlite_where=_ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("reservations_one_active_hold", table_name="reservations")
    op.drop_table("reservations")
    op.drop_table("devices")
