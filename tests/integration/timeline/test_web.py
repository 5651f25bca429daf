"""The web page's HTML shell and assets, served by the timeline app over ASGI."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastapi import FastAPI

from services.timeline.app import create_app
from services.timeline.web import ASSETS
from shared.settings import Settings

Serve = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


def assert_secure_headers(r: httpx.Response) -> None:
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"


class TestPage:
    @pytest.mark.parametrize("path", ["/", "/companies/openai"])
    async def test_html_with_security_headers(
        self, serve: Serve, settings: Settings, path: str
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert_secure_headers(r)
        assert "<script" in r.text and 'src="/static/timeline.js?v=' in r.text

    async def test_company_page_names_the_company(self, serve: Serve, settings: Settings) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.get("/companies/OpenAI")
        assert 'data-company="openai"' in r.text
        assert "<title>openai · pivotwatch</title>" in r.text

    async def test_no_inline_script_and_no_external_origin(
        self, serve: Serve, settings: Settings
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.get("/companies/openai")
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", r.text, re.S)
        assert scripts == [""], "every script is an external same-origin file"
        assert not re.search(r"\son[a-z]+\s*=", r.text), "no inline event handler"
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", r.text), "no external asset"

    async def test_slug_is_escaped_in_the_html(self, serve: Serve, settings: Settings) -> None:
        # A path segment cannot hold "/", so no closing tag; the opening ones are what matter.
        hostile = '"><script>alert(1)<img src=x onerror=alert(2)>'
        async with serve(create_app(settings)) as client:
            r = await client.get("/companies/" + httpx.URL(hostile).raw_path.decode())
        assert r.status_code == 200
        assert "<script>alert(1)" not in r.text
        assert "<img src=x" not in r.text
        assert "<title>&quot;&gt;&lt;script&gt;alert(1)&lt;img src=x" in r.text
        assert 'data-company="&quot;&gt;&lt;script&gt;' in r.text

    async def test_overlong_slug_is_refused_with_the_one_error_shape(
        self, serve: Serve, settings: Settings
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.get("/companies/" + "a" * 201)
        assert r.status_code == 422
        assert r.json()["error"] == "invalid"

    async def test_page_is_told_which_optional_routes_exist(
        self, serve: Serve, settings: Settings
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.get("/companies/openai")
        # Both are part of the timeline service; the page uses them rather than its fallbacks.
        assert 'data-phases-api="1"' in r.text
        assert 'data-stream-api="1"' in r.text


class TestAssets:
    @pytest.mark.parametrize(
        ("name", "media_type"),
        [
            ("timeline.js", "text/javascript; charset=utf-8"),
            ("timeline.css", "text/css; charset=utf-8"),
            ("favicon.svg", "image/svg+xml"),
        ],
    )
    async def test_served_with_type_etag_and_headers(
        self, serve: Serve, settings: Settings, name: str, media_type: str
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.get(f"/static/{name}")
            again = await client.get(
                f"/static/{name}", headers={"if-none-match": r.headers["etag"]}
            )
        assert r.status_code == 200
        assert r.headers["content-type"] == media_type
        assert r.content == ASSETS[name].body
        assert_secure_headers(r)
        assert again.status_code == 304 and again.content == b""

    @pytest.mark.parametrize(
        "name", ["page.html", "missing.js", "..%2Fweb.py", "%2e%2e%2fapp.py", ".hidden.js"]
    )
    async def test_anything_else_is_not_found(
        self, serve: Serve, settings: Settings, name: str
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.get(f"/static/{name}")
        assert r.status_code == 404
        assert r.json()["error"] == "not_found"

    def test_the_script_never_writes_html_from_data(self) -> None:
        js = ASSETS["timeline.js"].body.decode()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in js, sink
