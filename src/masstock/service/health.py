"""Whether this process can serve: for load balancers and orchestrators."""

from __future__ import annotations

from dataclasses import dataclass

from masstock.domain.errors import StorageUnavailable
from masstock.service.ports import SchemaProbe


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    database: str
    schema: str | None


async def readiness(probe: SchemaProbe, *, expected_schema: str) -> Readiness:
    """Ready when the database answers and its schema is the one this code expects."""
    try:
        revision = await probe.schema_revision()
    except StorageUnavailable:
        return Readiness(ready=False, database="unavailable", schema=None)
    return Readiness(ready=revision == expected_schema, database="ok", schema=revision)
