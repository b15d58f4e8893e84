"""Health endpoints: alive (the process answers) and ready (it can serve)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get

from masstock.api.services import services_of
from masstock.service.health import readiness


@get("/health/live", sync_to_thread=False)
def live() -> dict[str, str]:
    """The process is up; nothing else is checked."""
    return {"status": "ok"}


@get("/health/ready")
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The database answers and its schema is at this version's latest migration."""
    services = services_of(request)
    state = await readiness(services.schema_probe, expected_schema=services.schema)

    body = {
        "status": "ready" if state.ready else "not_ready",
        "database": state.database,
        "schema": state.schema,
        "expected_schema": services.schema,
    }
    status = 200 if state.ready else 503
    return Response(body, status_code=status, media_type=MediaType.JSON)
