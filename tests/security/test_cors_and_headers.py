"""CORS and security headers, on real servers.

Policy (README, "Security"): the timeline's read API may be read from any origin (GET/HEAD,
never with credentials); ingest and notify grant no cross-origin access at all. Every response of
every service carries `X-Content-Type-Options: nosniff`, once.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.timeline.app import create_app as timeline_app
from shared.auth import Scope
from shared.settings import Settings
from tests.security.conftest import APPS, Live, http_request, raw_request

EVIL = "https://evil.example"


def preflight(base: str, path: str, method: str, headers: str = "") -> httpx.Response:
    h = {"origin": EVIL, "access-control-request-method": method}
    if headers:
        h["access-control-request-headers"] = headers
    return httpx.options(base + path, headers=h, timeout=10)


class TestTimelineCors:
    @pytest.mark.parametrize(
        "path", ["/v1/companies", "/v1/companies/openai/timeline", "/v1/events/x", "/v1/stream"]
    )
    def test_a_read_preflight_from_any_origin_is_granted_without_credentials(
        self, timeline_server: Live, path: str
    ) -> None:
        r = preflight(timeline_server.url, path, "GET", "authorization")
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert "GET" in r.headers["access-control-allow-methods"]
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
    def test_a_preflight_for_a_write_is_refused(self, timeline_server: Live, method: str) -> None:
        r = preflight(timeline_server.url, "/v1/companies", method)
        assert r.status_code == 400
        assert method not in r.headers.get("access-control-allow-methods", "")

    def test_a_cross_origin_read_may_see_the_answer_and_the_paging_link(
        self, timeline_server: Live
    ) -> None:
        r = httpx.get(f"{timeline_server.url}/v1/companies", headers={"origin": EVIL})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers
        assert "link" in r.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize("service", ["ingest", "notify"])
class TestWriteServicesGrantNoCrossOriginAccess:
    PATHS = {
        "ingest": ["/v1/events", "/v1/events/batch", "/v1/articles"],
        "notify": ["/v1/subscriptions", "/v1/subscriptions/x", "/v1/deliveries/x/retry"],
    }

    def test_a_preflight_is_not_granted(self, service: str, request: pytest.FixtureRequest) -> None:
        live: Live = request.getfixturevalue(f"{service}_server")
        for path in self.PATHS[service]:
            for method in ("POST", "PATCH", "DELETE"):
                r = preflight(live.url, path, method, "authorization, content-type")
                assert r.status_code == 405, (path, r.status_code)
                assert not [h for h in r.headers if h.startswith("access-control-")]

    def test_a_cross_origin_request_gets_no_allow_origin(
        self, service: str, request: pytest.FixtureRequest, make_key: Any
    ) -> None:
        live: Live = request.getfixturevalue(f"{service}_server")
        key = make_key(Scope.ADMIN)
        headers = {"origin": EVIL, "authorization": f"Bearer {key}"}
        for path in self.PATHS[service]:
            r = httpx.post(live.url + path, headers=headers, content=b"{}", timeout=10)
            assert "access-control-allow-origin" not in r.headers
            assert "access-control-allow-credentials" not in r.headers


class TestNosniffEverywhere:
    @pytest.mark.parametrize(
        ("service", "method", "target"),
        [
            ("ingest", "GET", b"/healthz"),
            ("ingest", "GET", b"/metrics"),
            ("ingest", "GET", b"/openapi.json"),
            ("ingest", "POST", b"/v1/events"),
            ("ingest", "GET", b"/no/such/route"),
            ("ingest", "PUT", b"/v1/events"),
            ("timeline", "GET", b"/"),
            ("timeline", "GET", b"/static/timeline.js"),
            ("timeline", "GET", b"/v1/companies"),
            ("timeline", "GET", b"/v1/companies/none/timeline?format=csv"),
            ("timeline", "GET", b"/v1/events/not-a-uuid"),
            ("timeline", "GET", b"/v1/companies?q=%00"),
            ("notify", "GET", b"/readyz"),
            ("notify", "GET", b"/v1/subscriptions"),
            ("notify", "DELETE", b"/v1/subscriptions/x"),
        ],
    )
    def test_every_kind_of_response_says_nosniff_once(
        self, request: pytest.FixtureRequest, service: str, method: str, target: bytes
    ) -> None:
        live: Live = request.getfixturevalue(f"{service}_server")
        r = raw_request(live.port, http_request(method, target, []))
        assert r.headers.get("x-content-type-options") == "nosniff", (target, r.status)
        assert r.raw_head.lower().count(b"x-content-type-options") == 1

    def test_even_an_unexpected_error_says_nosniff(
        self, module_settings: Settings, live: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        app: FastAPI = timeline_app(module_settings)

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("a bug")

        with live(app) as server:
            r = raw_request(server.port, http_request("GET", b"/boom", []))
        assert r.status == 500
        assert r.json() == {"error": "internal", "detail": "internal error", "field": None}
        assert r.headers["x-content-type-options"] == "nosniff"
        assert any(rec.name == "pivotwatch.errors" for rec in caplog.records)
        caplog.clear()  # the error was the point; `no_server_errors` checks the other tests


def test_every_service_is_covered() -> None:
    assert set(APPS) == {"ingest", "timeline", "notify"}
