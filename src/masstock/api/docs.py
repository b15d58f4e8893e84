"""The OpenAPI document and the interactive docs, served with no outside host.

The docs page is Swagger UI, loaded from the files that the ``swagger-ui-py``
package ships; nothing on the page reaches another host, and its
Content-Security-Policy says so to the browser.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path

from litestar import MediaType, Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath

from masstock.api.openapi import build_document

DOCUMENT_PATH = "/openapi.json"
ASSETS_PATH = "/docs/assets"

# Only what the page needs, out of the package's many files.
_SWAGGER_UI_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-16x16.png": "image/png",
    "favicon-32x32.png": "image/png",
}
_START_SCRIPT = "start.js"

# Swagger UI sets style attributes and draws icons from data: URIs; it needs
# nothing else beyond this origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_PAGE = f"""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stock Reservations API</title>
<link rel="icon" type="image/png" sizes="32x32" href="{ASSETS_PATH}/favicon-32x32.png">
<link rel="icon" type="image/png" sizes="16x16" href="{ASSETS_PATH}/favicon-16x16.png">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/{_START_SCRIPT}"></script>
</body>
</html>
""".encode()

# The base layout alone: the standalone one adds a top bar that links out.
_START = f"""\
window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{DOCUMENT_PATH}",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}});
""".encode()

_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@get(DOCUMENT_PATH, sync_to_thread=False)
def openapi_document() -> Response[bytes]:
    """The OpenAPI 3.1 document of the API."""
    return Response(_document_json(), media_type=MediaType.JSON)


@get("/docs", sync_to_thread=False)
def docs_page() -> Response[bytes]:
    """The interactive docs: Swagger UI over the OpenAPI document."""
    return Response(_PAGE, media_type=MediaType.HTML, headers=_SECURITY_HEADERS)


@get(f"{ASSETS_PATH}/{{name:str}}", sync_to_thread=False)
def docs_asset(name: FromPath[str]) -> Response[bytes]:
    """One of the files the docs page loads."""
    if name == _START_SCRIPT:
        content, media_type = _START, "text/javascript"
    elif name in _SWAGGER_UI_FILES:
        content, media_type = _swagger_ui_file(name), _SWAGGER_UI_FILES[name]
    else:
        raise NotFoundException

    headers = {**_SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}
    return Response(content, media_type=media_type, headers=headers)


@cache
def _document_json() -> bytes:
    return json.dumps(build_document(), indent=2, ensure_ascii=False).encode()


@cache
def _swagger_ui_file(name: str) -> bytes:
    return (swagger_ui_static() / name).read_bytes()


def swagger_ui_static() -> Path:
    """The folder of Swagger UI's files, found without importing the package."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


ROUTES: list[BaseRouteHandler] = [openapi_document, docs_page, docs_asset]
