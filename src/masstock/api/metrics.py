"""``GET /metrics``: every metric of every worker, for Prometheus to scrape."""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Request, Response, get

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Telemetry(Protocol):
    """What the API reports each request to, and reads the metrics from."""

    def request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request; ``route`` is its template, "" if none matched."""
        ...

    def exposition(self) -> bytes:
        """Every metric, in Prometheus's text format."""
        ...


def telemetry_of(request: Request[Any, Any, Any]) -> Telemetry:
    telemetry: Telemetry = request.app.state.telemetry
    return telemetry


# In a worker thread: with several workers, the values are read from files.
@get("/metrics", sync_to_thread=True, include_in_schema=False)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Every metric of every worker, in Prometheus's text format."""
    body = telemetry_of(request).exposition()
    return Response(body, media_type=CONTENT_TYPE)
