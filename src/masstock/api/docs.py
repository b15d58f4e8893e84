"""The OpenAPI document and the interactive docs, served with no outside host."""

from __future__ import annotations

from litestar.handlers import BaseRouteHandler

ROUTES: list[BaseRouteHandler] = []
