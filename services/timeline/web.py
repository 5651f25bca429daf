"""The web page of the timeline: one HTML shell at `/` and `/companies/{slug}`, and its assets.

The page is drawn in the browser from the JSON API (`static/timeline.js`); the server renders only
the shell, with every interpolated value escaped. Assets are read once when the module loads and
served from memory with an ETag, so a request never touches the disk. Every response carries a
Content-Security-Policy that allows scripts, styles and connections to this origin only: no inline
script, no external CDN.
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path
from string import Template
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam

from shared.errors import NotFound

STATIC_DIR = Path(__file__).parent / "static"
ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,80}$")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}

# The optional API routes the page uses when this server has them; the page is told which exist,
# so it never asks for one that would answer 404.
PHASES_ROUTE = "/v1/companies/{slug}/phases"
STREAM_ROUTE = "/v1/stream"


class Asset:
    __slots__ = ("body", "etag", "media_type")

    def __init__(self, body: bytes, media_type: str) -> None:
        self.body = body
        self.media_type = media_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def _load_assets() -> dict[str, Asset]:
    return {
        p.name: Asset(p.read_bytes(), ASSET_TYPES[p.suffix])
        for p in sorted(STATIC_DIR.iterdir())
        if p.is_file() and p.suffix in ASSET_TYPES
    }


ASSETS = _load_assets()
PAGE = Template((STATIC_DIR / "page.html").read_text(encoding="utf-8"))

router = APIRouter(include_in_schema=False)


def _has_route(paths: dict[str, object], path: str) -> bool:
    return path in paths


def _asset_url(name: str) -> str:
    # The content hash in the URL makes a changed asset a new URL, so no stale copy is used.
    return f"/static/{name}?v={ASSETS[name].etag.strip(chr(34))}"


def render_page(request: Request, company: str) -> str:
    esc = html.escape
    # The OpenAPI document lists every route however routers were included (FastAPI keeps
    # included routers as opaque entries in app.routes), and FastAPI caches it after first use.
    routes = request.app.openapi().get("paths", {})
    return PAGE.substitute(
        title=esc(f"{company} · pivotwatch" if company else "pivotwatch"),
        heading=esc(company or "Timeline"),
        company=esc(company),
        phases_api="1" if _has_route(routes, PHASES_ROUTE) else "0",
        stream_api="1" if _has_route(routes, STREAM_ROUTE) else "0",
        css=esc(_asset_url("timeline.css")),
        js=esc(_asset_url("timeline.js")),
        icon=esc(_asset_url("favicon.svg")),
    )


def _html(body: str) -> Response:
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


@router.get("/")
async def index(request: Request) -> Response:
    return _html(render_page(request, ""))


@router.get("/companies/{slug}")
async def company_page(
    request: Request, slug: Annotated[str, PathParam(min_length=1, max_length=200)]
) -> Response:
    return _html(render_page(request, slug.strip().lower()))


@router.get("/static/{name}")
async def asset(request: Request, name: str) -> Response:
    found = ASSETS.get(name) if _ASSET_NAME.match(name) else None
    if found is None:
        raise NotFound("no such asset", field="name")
    headers = {**SECURITY_HEADERS, "ETag": found.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
