"""Auth and scopes on every route, enumerated from each service's own OpenAPI document: a
mutating route answers 401 without a key (before it reads the body) and 403 with a key of the
wrong scope; one key cannot reach another key's subscriptions or deliveries."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from services.timeline.app import create_app as timeline_app
from services.timeline.web import router as web_router
from shared.auth import Scope, revoke_key
from shared.settings import Settings
from tests.security.conftest import APPS, Live

MUTATING = {"post", "put", "patch", "delete"}
PUBLIC = {"/healthz", "/readyz"}
# The scope each service's protected routes need, and one that is not it.
NEEDS = {"ingest": Scope.EVENTS_WRITE, "notify": Scope.SUBSCRIPTIONS_WRITE}
WRONG = {"ingest": Scope.SUBSCRIPTIONS_WRITE, "notify": Scope.EVENTS_WRITE}
# Routes that need another scope than their service's (the operator's report needs admin).
NEEDS_ROUTE = {("GET", "/v1/status"): Scope.ADMIN}


def needs(service: str, method: str, path: str) -> Scope:
    return NEEDS_ROUTE.get((method.upper(), path), NEEDS[service])


def operations(service: str, settings: Settings) -> list[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = APPS[service](settings).openapi()["paths"]
    return sorted((m, p) for p, ops in paths.items() for m in ops if m in MUTATING | {"get"})


def fill(path: str, value: str | None = None) -> str:
    return re.sub(r"\{[^}]+\}", value or str(uuid.uuid4()), path)


def call(base: str, method: str, path: str, key: str | None, **kw: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    kw.setdefault("json", {})
    if method == "get":
        kw.pop("json")
    return httpx.request(method.upper(), base + path, headers=headers, timeout=10, **kw)


class TestTheEnumerationIsComplete:
    def test_every_mutating_route_is_known(self, module_settings: Settings) -> None:
        mutating = {
            s: [(m, p) for m, p in operations(s, module_settings) if m in MUTATING] for s in APPS
        }
        assert mutating["ingest"] == [
            ("post", "/v1/articles"),
            ("post", "/v1/events"),
            ("post", "/v1/events/batch"),
        ]
        assert len(mutating["notify"]) == 8, mutating["notify"]
        # The read side changes nothing but an admin's undoing of a wrong merge (its keys are
        # checked in tests/integration/timeline/test_timeline_split.py).
        assert mutating["timeline"] == [("post", "/v1/events/{event_id}/split")]

    def test_the_timeline_web_routes_outside_the_schema_only_read(self) -> None:
        methods = {m for route in web_router.routes for m in getattr(route, "methods", set())}
        assert methods <= {"GET", "HEAD"}


@pytest.mark.parametrize("service", ["ingest", "notify"])
class TestEveryProtectedRoute:
    def routes(self, service: str, settings: Settings, mutating_only: bool) -> list[Any]:
        ops = [
            (m, p)
            for m, p in operations(service, settings)
            if p not in PUBLIC and (m in MUTATING or not mutating_only)
        ]
        assert ops
        return ops

    def test_without_a_key_is_401_before_the_body_is_read(
        self, service: str, module_settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        live: Live = request.getfixturevalue(f"{service}_server")
        for method, path in self.routes(service, module_settings, mutating_only=False):
            r = call(live.url, method, fill(path), None, content=b"{not json")
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["field"] == "authorization"
            assert r.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize(
        "presented",
        ["pw_00000000_" + "x" * 43, "not-a-key", "-", "pw_", "Bearer pw_x"],
    )
    def test_an_unknown_or_malformed_key_is_401(
        self,
        service: str,
        module_settings: Settings,
        request: pytest.FixtureRequest,
        presented: str,
    ) -> None:
        live: Live = request.getfixturevalue(f"{service}_server")
        for method, path in self.routes(service, module_settings, mutating_only=True):
            r = call(live.url, method, fill(path), presented)
            assert r.status_code == 401, (method, path, r.text)

    def test_a_revoked_key_is_401(
        self,
        service: str,
        module_settings: Settings,
        request: pytest.FixtureRequest,
        make_key: Callable[..., str],
        sessions: sessionmaker[Session],
        redis_client: Redis,
    ) -> None:
        live: Live = request.getfixturevalue(f"{service}_server")
        key = make_key(Scope.ADMIN)
        with sessions() as session, session.begin():
            assert revoke_key(session, redis_client, key.split("_")[1])
        for method, path in self.routes(service, module_settings, mutating_only=False):
            r = call(live.url, method, fill(path), key)
            assert r.status_code == 401, (method, path, r.text)

    def test_a_key_of_the_wrong_scope_is_403(
        self,
        service: str,
        module_settings: Settings,
        request: pytest.FixtureRequest,
        make_key: Callable[..., str],
    ) -> None:
        live: Live = request.getfixturevalue(f"{service}_server")
        key = make_key(WRONG[service])
        for method, path in self.routes(service, module_settings, mutating_only=False):
            r = call(live.url, method, fill(path), key, content=b"{not json")
            assert r.status_code == 403, (method, path, r.text)
            assert r.json() == {
                "error": "forbidden",
                "detail": f"this key lacks the '{needs(service, method, path).value}' scope",
                "field": "authorization",
            }

    def test_a_key_of_the_right_scope_gets_past_auth(
        self,
        service: str,
        module_settings: Settings,
        request: pytest.FixtureRequest,
        make_key: Callable[..., str],
    ) -> None:
        live: Live = request.getfixturevalue(f"{service}_server")
        keys = {scope: make_key(scope) for scope in {NEEDS[service], *NEEDS_ROUTE.values()}}
        for method, path in self.routes(service, module_settings, mutating_only=False):
            r = call(live.url, method, fill(path), keys[needs(service, method, path)])
            assert r.status_code not in (401, 403), (method, path, r.text)
            assert r.status_code < 500, (method, path, r.text)


class TestTheDocumentDeclaresTheKey:
    @pytest.mark.parametrize("service", sorted(APPS))
    def test_an_operation_declares_a_key_exactly_when_it_answers_401_without_one(
        self, service: str, module_settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        """What generated clients rely on (they send the key only where `security` says)."""
        live: Live = request.getfixturevalue(f"{service}_server")
        paths = APPS[service](module_settings).openapi()["paths"]
        checked = 0
        for path, ops in paths.items():
            for method, op in ops.items():
                if path == "/v1/stream":
                    continue  # public: a 200 holds the connection open (TestReadKey covers it)
                r = call(live.url, method, fill(path), None)
                assert (r.status_code == 401) == ("security" in op), (method, path, r.text)
                checked += 1
        assert checked >= 6


class TestOwnership:
    def test_another_key_reaches_no_subscription_or_delivery_of_this_one(
        self,
        module_settings: Settings,
        notify_server: Live,
        make_key: Callable[..., str],
    ) -> None:
        owner = make_key(Scope.SUBSCRIPTIONS_WRITE, name="owner")
        other = make_key(Scope.SUBSCRIPTIONS_WRITE, name="other")
        sub = call(
            notify_server.url,
            "post",
            "/v1/subscriptions",
            owner,
            json={"url": "http://127.0.0.1:9/h"},
        )
        assert sub.status_code == 201, sub.text
        sub_id = sub.json()["id"]
        test = call(notify_server.url, "post", f"/v1/subscriptions/{sub_id}/test", owner)
        delivery_id = test.json()["id"]
        bodies = {"replay": {"since": "2000-01-01T00:00:00Z"}}
        reached = []
        for method, path in operations("notify", module_settings):
            if "{subscription_id}" in path:
                target = fill(path, sub_id)
            elif "{delivery_id}" in path:
                target = fill(path, delivery_id)
            else:
                continue
            body = bodies.get(path.rsplit("/", 1)[-1], {})
            r = call(notify_server.url, method, target, other, json=body)
            assert r.status_code == 404, (method, path, r.text)
            # ...answered exactly as an id nobody has: the id tells nothing of its owner.
            unknown = fill(path, str(uuid.uuid4()))
            nobody = call(notify_server.url, method, unknown, other, json=body)
            assert r.json() == nobody.json(), (path, r.text, nobody.text)
            reached.append(path)
        assert len(reached) >= 10
        listed = call(notify_server.url, "get", "/v1/subscriptions", other)
        assert listed.json() == []
        # ...and it is all still there for its owner.
        assert (
            call(notify_server.url, "get", f"/v1/subscriptions/{sub_id}", owner).status_code == 200
        )

    def test_an_admin_key_reaches_every_subscription(
        self, notify_server: Live, make_key: Callable[..., str]
    ) -> None:
        owner = make_key(Scope.SUBSCRIPTIONS_WRITE, name="owner")
        admin = make_key(Scope.ADMIN, name="admin")
        sub = call(
            notify_server.url,
            "post",
            "/v1/subscriptions",
            owner,
            json={"url": "http://127.0.0.1:9/h"},
        )
        got = call(notify_server.url, "get", f"/v1/subscriptions/{sub.json()['id']}", admin)
        assert got.status_code == 200


class TestReadKey:
    def test_with_require_read_key_every_timeline_api_route_needs_a_key(
        self,
        module_settings: Settings,
        live: Callable[..., Any],
        make_key: Callable[..., str],
    ) -> None:
        locked = module_settings.model_copy(update={"require_read_key": True})
        reads = [
            p for m, p in operations("timeline", locked) if m == "get" and p.startswith("/v1/")
        ]
        assert len(reads) >= 6
        key = make_key(Scope.EVENTS_WRITE)
        with live(timeline_app(locked)) as server:
            for path in reads:
                if path == "/v1/stream":
                    continue  # a 200 would hold the connection open: checked without a key only
                r = call(server.url, "get", fill(path), None)
                assert r.status_code == 401, (path, r.text)
                ok = call(server.url, "get", fill(path).replace("{", ""), key)
                assert ok.status_code not in (401, 403), (path, ok.text)
            r = call(server.url, "get", "/v1/stream", None)
            assert r.status_code == 401
