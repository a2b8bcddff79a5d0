"""``/docs`` without a CDN: FastAPI's default Swagger page loads its script from the
internet, which an offline analyst machine cannot reach. The Swagger UI files come from
the ``fastapi-offline`` package when installed; otherwise a small built-in page lists the
operations and their examples from ``/openapi.json``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
ASSETS_URL = "/docs-assets"


def swagger_assets() -> Path | None:
    """The folder holding swagger-ui-bundle.js and swagger-ui.css, if a package ships one."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() and (folder / "swagger-ui.css").is_file() else None


def install_docs(app: FastAPI, *, title: str) -> None:
    assets = swagger_assets()
    if assets is not None:
        app.mount(ASSETS_URL, StaticFiles(directory=assets), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def swagger() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{title} - API",
                swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url="/static/favicon.svg",
                swagger_ui_parameters={"defaultModelsExpandDepth": 0, "tryItOutEnabled": True},
            )

    else:

        @app.get("/docs", include_in_schema=False)
        async def plain_docs() -> FileResponse:
            return FileResponse(STATIC / "docs.html", media_type="text/html")
