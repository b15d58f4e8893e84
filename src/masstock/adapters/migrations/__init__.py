"""Schema migrations (Alembic), shipped inside the package."""
