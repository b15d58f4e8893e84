"""Alembic environment: runs on the connection that ``schema.upgrade`` opens."""

from alembic import context
from sqlalchemy import text

# A fixed key for PostgreSQL's advisory lock: replicas that start together
# queue on it, and all but the first find the schema already at head.
MIGRATION_LOCK_KEY = 0x6D617373  # "mass"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)

with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )
    context.run_migrations()
