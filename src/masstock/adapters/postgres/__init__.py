"""The production database: PostgreSQL through asyncpg."""

from masstock.adapters.postgres.database import PostgresDatabase
from masstock.adapters.postgres.devices import PostgresDeviceCatalog
from masstock.adapters.postgres.idempotency import PostgresIdempotencyKeys
from masstock.adapters.postgres.reservations import PostgresReservationStore
from masstock.adapters.postgres.search import PostgresReservationSearch

__all__ = [
    "PostgresDatabase",
    "PostgresDeviceCatalog",
    "PostgresIdempotencyKeys",
    "PostgresReservationSearch",
    "PostgresReservationStore",
]
