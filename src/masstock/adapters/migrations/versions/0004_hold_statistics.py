"""Fresh planner statistics for reservations whatever the table's size.

PostgreSQL re-analyzes a table after changes to a tenth of its rows by
default: a ten-million-row table waits for a million.  Meanwhile a burst of
holds after a quiet spell (a launch day) is invisible to the statistics of
the partial indexes of holds; if they last saw none, the planner scans one of
them where the one-hold-per-device index or the primary key is right, and
every create and cancel gets slower as the burst grows.  Analyzing after a
fixed number of changes keeps the estimate within a minute of the truth.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ANALYZE_AFTER_CHANGES = 5000


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("reservations", "reservation_events"):
        op.execute(
            f"ALTER TABLE {table} SET (autovacuum_analyze_scale_factor = 0, "
            f"autovacuum_analyze_threshold = {_ANALYZE_AFTER_CHANGES})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("reservations", "reservation_events"):
        op.execute(
            f"ALTER TABLE {table} RESET (autovacuum_analyze_scale_factor, "
            "autovacuum_analyze_threshold)"
        )
