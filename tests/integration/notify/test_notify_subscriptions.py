"""The subscriptions API: CRUD, the secret shown once, rotation, the SSRF guard at subscription
time, test sends, and the deliveries view — against real PostgreSQL/Redis and a real receiver."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.notify.app import create_app
from shared.auth import Scope
from shared.logs import JsonFormatter
from shared.settings import Settings

REFUSED_TARGETS = [
    "http://127.0.0.1/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://100.64.0.1/hook",
    "http://[2002:7f00:1::1]/hook",  # 6to4 spelling of 127.0.0.1
    "http://[64:ff9b::a00:1]/hook",  # NAT64 spelling of 10.0.0.1
    "http://localhost:8080/hook",  # a name that resolves to a private address
]


def body(url: str, **over: Any) -> dict[str, Any]:
    return {"url": url, **over}


class TestCreate:
    async def test_secret_is_shown_once_and_never_again(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            r = await client.post("/v1/subscriptions", json=body(receiver.url), headers=manager)
            assert r.status_code == 201, r.text
            created = r.json()
            secret = created["secret"]
            assert secret.startswith("whsec_")
            one = await client.get(f"/v1/subscriptions/{created['id']}", headers=manager)
            many = await client.get("/v1/subscriptions", headers=manager)
            patched = await client.patch(
                f"/v1/subscriptions/{created['id']}", json={"description": "x"}, headers=manager
            )
        for r in (one, many, patched):
            assert r.status_code == 200
            assert secret not in r.text
            assert "secret" not in r.text
        assert [s["id"] for s in many.json()] == [created["id"]]

    async def test_answers_that_carry_a_secret_are_not_cached(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            created = await client.post(
                "/v1/subscriptions", json=body(receiver.url), headers=manager
            )
            rotated = await client.post(
                f"/v1/subscriptions/{created.json()['id']}/rotate-secret", headers=manager
            )
        assert created.headers["cache-control"] == "no-store"
        assert rotated.status_code == 201
        assert rotated.headers["cache-control"] == "no-store"

    async def test_unparseable_json_is_422_naming_the_body(
        self, nsettings: Settings, serve: Any, manager: dict[str, str]
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            r = await client.post(
                "/v1/subscriptions",
                content=b'{"url": "http://127.0.0.1/x",',
                headers={**manager, "content-type": "application/json"},
            )
        assert r.status_code == 422
        assert r.json()["error"] == "invalid"
        assert r.json()["field"] == "body"

    async def test_filter_and_types_are_validated_with_the_field_named(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            bad_type = await client.post(
                "/v1/subscriptions",
                json=body(receiver.url, event_types=["event.deleted"]),
                headers=manager,
            )
            bad_cat = await client.post(
                "/v1/subscriptions",
                json=body(receiver.url, filter={"categories": ["gossip"]}),
                headers=manager,
            )
        assert bad_type.status_code == 422
        assert bad_type.json()["field"].startswith("event_types")
        assert bad_cat.status_code == 422
        assert bad_cat.json()["field"].startswith("filter.categories")

    async def test_needs_the_subscriptions_scope(
        self, nsettings: Settings, serve: Any, make_key: Any, receiver: Any
    ) -> None:
        writer = {"authorization": f"Bearer {make_key(Scope.EVENTS_WRITE)}"}
        async with serve(create_app(nsettings)) as client:
            r = await client.post("/v1/subscriptions", json=body(receiver.url), headers=writer)
            anon = await client.get("/v1/subscriptions")
        assert r.status_code == 403
        assert anon.status_code == 401

    async def test_other_keys_cannot_see_or_change_it(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], make_key: Any, receiver: Any
    ) -> None:
        other = {"authorization": f"Bearer {make_key(Scope.SUBSCRIPTIONS_WRITE, name='b')}"}
        async with serve(create_app(nsettings)) as client:
            sub = (
                await client.post("/v1/subscriptions", json=body(receiver.url), headers=manager)
            ).json()
            seen = await client.get(f"/v1/subscriptions/{sub['id']}", headers=other)
            gone = await client.delete(f"/v1/subscriptions/{sub['id']}", headers=other)
            listed = await client.get("/v1/subscriptions", headers=other)
        assert seen.status_code == 404
        assert gone.status_code == 404
        assert listed.json() == []

    async def test_update_and_delete(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            sub = (
                await client.post("/v1/subscriptions", json=body(receiver.url), headers=manager)
            ).json()
            r = await client.patch(
                f"/v1/subscriptions/{sub['id']}",
                json={
                    "event_types": ["phase.changed"],
                    "filter": {"companies": ["openai"], "min_importance": 70},
                    "fifo": True,
                    "rate_limit_per_second": 3,
                },
                headers=manager,
            )
            assert r.status_code == 200, r.text
            assert r.json()["event_types"] == ["phase.changed"]
            assert r.json()["filter"]["min_importance"] == 70
            assert r.json()["fifo"] is True
            assert r.json()["rate_limit_per_second"] == 3
            d = await client.delete(f"/v1/subscriptions/{sub['id']}", headers=manager)
            after = await client.get(f"/v1/subscriptions/{sub['id']}", headers=manager)
        assert d.status_code == 204
        assert after.status_code == 404

    @pytest.mark.parametrize("field", ["url", "description", "event_types", "filter", "fifo"])
    async def test_a_null_in_a_patch_is_refused_naming_the_field_and_changes_nothing(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, field: str
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            sub = (
                await client.post("/v1/subscriptions", json=body(receiver.url), headers=manager)
            ).json()
            r = await client.patch(
                f"/v1/subscriptions/{sub['id']}", json={field: None}, headers=manager
            )
            after = await client.get(f"/v1/subscriptions/{sub['id']}", headers=manager)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field
        assert "null" in r.json()["detail"]
        assert after.json() == {k: v for k, v in sub.items() if k != "secret"}

    async def test_a_null_rate_limit_removes_the_limit(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            sub = (
                await client.post(
                    "/v1/subscriptions",
                    json={**body(receiver.url), "rate_limit_per_second": 5},
                    headers=manager,
                )
            ).json()
            r = await client.patch(
                f"/v1/subscriptions/{sub['id']}",
                json={"rate_limit_per_second": None},
                headers=manager,
            )
        assert r.status_code == 200, r.text
        assert r.json()["rate_limit_per_second"] is None


class TestSsrfAtSubscriptionTime:
    @pytest.mark.parametrize("url", REFUSED_TARGETS)
    async def test_private_targets_are_refused_naming_url(
        self, settings: Settings, serve: Any, manager: dict[str, str], url: str
    ) -> None:
        strict = settings.model_copy(update={"webhook_allow_networks": []})
        async with serve(create_app(strict)) as client:
            r = await client.post("/v1/subscriptions", json=body(url), headers=manager)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "url"
        assert "public" in r.json()["detail"]

    async def test_a_patch_to_a_private_url_is_refused(
        self, settings: Settings, serve: Any, manager: dict[str, str]
    ) -> None:
        strict = settings.model_copy(update={"webhook_allow_networks": []})
        async with serve(create_app(strict)) as client:
            sub = await client.post(
                "/v1/subscriptions", json=body("http://93.184.215.14/hook"), headers=manager
            )
            assert sub.status_code == 201, sub.text
            r = await client.patch(
                f"/v1/subscriptions/{sub.json()['id']}",
                json={"url": "http://169.254.169.254/"},
                headers=manager,
            )
        assert r.status_code == 422
        assert r.json()["field"] == "url"

    @pytest.mark.parametrize(
        "url", ["ftp://example.com/x", "http://user:pw@example.com/", "http://[::1/"]
    )
    async def test_malformed_urls_are_refused(
        self, settings: Settings, serve: Any, manager: dict[str, str], url: str
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.post("/v1/subscriptions", json=body(url), headers=manager)
        assert r.status_code == 422
        assert r.json()["field"] == "url"


class TestTestSend:
    async def test_test_event_arrives_signed_and_verifies(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            sub = (
                await client.post("/v1/subscriptions", json=body(receiver.url), headers=manager)
            ).json()
            r = await client.post(f"/v1/subscriptions/{sub['id']}/test", headers=manager)
            assert r.status_code == 202, r.text
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"]))
            detail = await client.get(f"/v1/deliveries/{r.json()['id']}", headers=manager)
        (got,) = receiver.snapshot()
        payload = Webhook(sub["secret"]).verify(got.body, got.headers)
        assert payload["type"] == "dev.pivotwatch.subscription.test"
        assert payload["specversion"] == "1.0"
        assert got.webhook_id == r.json()["webhook_id"]
        assert detail.json()["status"] == "succeeded"
        assert detail.json()["attempts_log"][0]["status_code"] == 200


class TestRotateSecret:
    async def test_both_secrets_verify_during_grace_then_only_the_new(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            sub = (
                await client.post("/v1/subscriptions", json=body(receiver.url), headers=manager)
            ).json()
            old = sub["secret"]
            rot = await client.post(
                f"/v1/subscriptions/{sub['id']}/rotate-secret",
                json={"grace_seconds": 3600},
                headers=manager,
            )
            assert rot.status_code == 201, rot.text
            new = rot.json()["secret"]
            assert new != old and rot.json()["signing_secrets"] == 2
            await client.post(f"/v1/subscriptions/{sub['id']}/test", headers=manager)
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"], 1))
            during = receiver.snapshot()[-1]
            assert len(during.headers["webhook-signature"].split()) == 2
            Webhook(old).verify(during.body, during.headers)
            Webhook(new).verify(during.body, during.headers)

            rot2 = await client.post(
                f"/v1/subscriptions/{sub['id']}/rotate-secret",
                json={"grace_seconds": 0},
                headers=manager,
            )
            newest = rot2.json()["secret"]
            assert rot2.json()["signing_secrets"] == 1
            await client.post(f"/v1/subscriptions/{sub['id']}/test", headers=manager)
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"], 2))
            shown = await client.get(f"/v1/subscriptions/{sub['id']}", headers=manager)
        after = receiver.snapshot()[-1]
        Webhook(newest).verify(after.body, after.headers)
        for stale in (old, new):
            with pytest.raises(WebhookVerificationError):
                Webhook(stale).verify(after.body, after.headers)
        assert all(s not in shown.text for s in (old, new, newest))


class TestSecretsNeverLogged:
    async def test_no_secret_in_any_log_record(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter("test"))
        handler.setLevel(logging.DEBUG)
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        receiver.respond = lambda got, nth: receiver.Reply(500 if nth == 0 else 200)
        try:
            async with serve(create_app(nsettings)) as client:
                sub = (
                    await client.post("/v1/subscriptions", json=body(receiver.url), headers=manager)
                ).json()
                rot = await client.post(
                    f"/v1/subscriptions/{sub['id']}/rotate-secret", headers=manager
                )
                await client.post(f"/v1/subscriptions/{sub['id']}/test", headers=manager)
                await asyncio.to_thread(kit.drive, kit.settled(sub["id"]))
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
        text = stream.getvalue()
        assert "delivery attempt failed" in text  # the failure was logged...
        for secret in (sub["secret"], rot.json()["secret"]):
            assert secret not in text  # ...and no secret with it
            assert secret.removeprefix("whsec_") not in text


class TestCommittedBeforeAnswered:
    async def test_a_201_is_sent_only_once_the_subscription_is_committed(
        self, nsettings: Settings, manager: dict[str, str], receiver: Any
    ) -> None:
        """The response body reaches the client only after the transaction committed: a client
        that acts on the 201 at once (rotates the secret) finds the subscription."""
        import httpx
        import orjson
        import psycopg

        app = create_app(nsettings)
        seen: list[bool] = []

        def committed(sub_id: str) -> bool:
            url = nsettings.database_url
            with psycopg.connect(url, autocommit=True) as conn:
                row = conn.execute("SELECT 1 FROM subscriptions WHERE id = %s", (sub_id,))
                return row.fetchone() is not None

        async def watched(scope: Any, receive: Any, send: Any) -> None:
            async def checking_send(message: Any) -> None:
                if message["type"] == "http.response.body" and message.get("body"):
                    body = orjson.loads(message["body"])
                    if isinstance(body, dict) and "secret" in body:
                        seen.append(await asyncio.to_thread(committed, body["id"]))
                await send(message)

            await app(scope, receive, checking_send)

        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=watched)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                r = await c.post("/v1/subscriptions", json={"url": receiver.url}, headers=manager)
        assert r.status_code == 201, r.text
        assert seen == [True]
