"""The embedded default: everything in one SQLite file."""

from masstock.adapters.sqlite.database import SqliteDatabase
from masstock.adapters.sqlite.devices import SqliteDeviceCatalog
from masstock.adapters.sqlite.idempotency import SqliteIdempotencyKeys
from masstock.adapters.sqlite.reservations import SqliteReservationStore
from masstock.adapters.sqlite.search import SqliteReservationSearch

__all__ = [
    "SqliteDatabase",
    "SqliteDeviceCatalog",
    "SqliteIdempotencyKeys",
    "SqliteReservationSearch",
    "SqliteReservationStore",
]
