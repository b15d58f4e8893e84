"""Traces through OpenTelemetry: off by default, on with the standard OTEL_* settings.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp`` or
``console``), or when an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) and the exporter is not ``none``;
``OTEL_SDK_DISABLED=true`` keeps it off whatever else is set.  Everything
else is the SDK's to read: the service name and resource attributes, the
sampler, the OTLP endpoint, headers and timeout, the batch processor's delays.
OTLP travels as protobuf over HTTP.

Spans: one per request (named by method and route template, joining the
caller's trace from ``traceparent``), one per PostgreSQL statement (asyncpg),
one per call to the inventory (httpx).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import cast

from litestar.types import ASGIApp

_EXPORTERS = ("otlp", "console", "none")
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")


class TracingSettingError(ValueError):
    """An OTEL_* setting that this service cannot honour; the message names it."""


def tracing_exporter(environ: Mapping[str, str] | None = None) -> str | None:
    """The exporter the OTEL_* settings ask for, or None when tracing is off.

    Raises TracingSettingError for an exporter or protocol not supported here.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter and exporter not in _EXPORTERS:
        choices = ", ".join(_EXPORTERS)
        message = f"OTEL_TRACES_EXPORTER: {exporter!r} is not one of {choices}"
        raise TracingSettingError(message)
    for name in _PROTOCOLS:
        protocol = env.get(name, "").strip()
        if protocol and protocol != "http/protobuf":
            message = f"{name}: only http/protobuf is supported, not {protocol!r}"
            raise TracingSettingError(message)
    if exporter == "none":
        return None
    if exporter:
        return exporter
    return "otlp" if any(env.get(name) for name in _ENDPOINTS) else None


class Tracing:
    """The process's tracer provider and the instrumentation it feeds."""

    def __init__(self, exporter: str) -> None:
        # Imported here: with tracing off, none of it is loaded.
        from opentelemetry import trace  # noqa: PLC0415
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )

        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES first; "masstock" if
        # neither names the service.
        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown"):
            resource = resource.merge(Resource({"service.name": "masstock"}))
        self._provider = TracerProvider(resource=resource)
        span_exporter: SpanExporter
        if exporter == "console":
            span_exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            span_exporter = OTLPSpanExporter()
        self._provider.add_span_processor(BatchSpanProcessor(span_exporter))
        self._trace = trace

    def instrument(self, app: ASGIApp) -> ASGIApp:
        """Trace ``app``'s requests, and every asyncpg and httpx call from now on."""
        from opentelemetry.instrumentation.asgi import (  # noqa: PLC0415
            OpenTelemetryMiddleware,
        )
        from opentelemetry.instrumentation.asyncpg import (  # noqa: PLC0415
            AsyncPGInstrumentor,
        )
        from opentelemetry.instrumentation.httpx import (  # noqa: PLC0415
            HTTPXClientInstrumentor,
        )

        AsyncPGInstrumentor().instrument(  # type: ignore[no-untyped-call]
            tracer_provider=self._provider
        )
        HTTPXClientInstrumentor().instrument(tracer_provider=self._provider)
        # The span of each ASGI message is noise: one span per request.
        traced = OpenTelemetryMiddleware(
            app, tracer_provider=self._provider, exclude_spans=["receive", "send"]
        )
        return cast(ASGIApp, traced)

    def current(self) -> tuple[str, str] | None:
        """The trace and span ids of the span in force, as hex; None if none."""
        context = self._trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"

    def routed(self, method: str, route: str) -> None:
        """Name the request's span by its route template, not its raw path."""
        if not route:
            return
        span = self._trace.get_current_span()
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)

    def shutdown(self) -> None:
        """Send the spans still buffered, then stop."""
        self._provider.shutdown()
