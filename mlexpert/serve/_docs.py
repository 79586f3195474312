"""``/docs``: Swagger UI from the assets of the pinned ``swagger-ui-bundle-v2`` package, served
by this app (FastAPI's default page loads them from a CDN and is blank offline); ``/redoc``
(CDN-only) redirects there."""
from __future__ import annotations

from typing import Any

from mlexpert.serve._errors import Problem

ASSETS = "/docs/assets"
_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def add_docs(app: Any) -> None:
    """Register ``/docs``, its OAuth2 redirect page, its assets and ``/redoc`` (a redirect)."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import FileResponse, RedirectResponse
    from swagger_ui_bundle import swagger_ui_path

    files = {name: swagger_ui_path / name for name in _FILES}

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} - docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> Any:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(ASSETS + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Any:
        path = files.get(name)
        if path is None:
            raise Problem(404, f"no docs asset {name!r}; open /docs.", reason="not_found")
        return FileResponse(str(path), headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Any:
        return RedirectResponse("/docs")
