"""API keys and webhook secrets never reach a log or a response after creation.

One full scenario on the real `pivotwatch up` (embedded PostgreSQL and Redis, every service and
worker as its own process): keys made with the CLI, a subscription made and its secret rotated,
events ingested and delivered (the receiver fails the first attempt, so a retry is logged too),
and errors provoked with wrong, near-miss, revoked, wrong-scope keys and a key in a query
string. Then every log file under the stack's home and the supervisor's own output are scanned
for every key and secret, whole and in part. The in-process tests do the same with the apps'
log records at DEBUG.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from services.ingest.app import create_app as ingest_app
from services.timeline.app import create_app as timeline_app
from shared.auth import Scope
from shared.settings import Settings
from tests.e2e.conftest import Stack, start_stack
from tests.fixtures.receiver import Receiver, in_order
from tests.fixtures.waiting import wait_until

STRUCTURED = {"content-type": "application/cloudevents+json"}


def needles(*secrets: str) -> dict[str, str]:
    """Each secret, and the part of it that is secret (without its public prefix)."""
    out = {}
    for s in secrets:
        out[s] = s
        if s.startswith("pw_"):  # pw_<public id>_<token_urlsafe>: the token may hold "_" itself
            out[s.split("_", 2)[2]] = f"random part of {s[:12]}..."
        if s.startswith("whsec_"):
            out[s.removeprefix("whsec_")] = f"base64 part of {s[:10]}..."
    return out


def find_leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for needle, name in secrets.items() if needle in text]


TITLES = [
    ("Acme AI", "2026-03", "Acme AI releases open weights under Apache 2.0"),
    ("Globex", "2024-11", "Globex raises a Series B led by a sovereign fund"),
    ("Initech", "2019-07", "Initech converts to a public benefit corporation"),
]


def event(ce_id: str, n: int = 0) -> bytes:
    company, occurred, title = TITLES[n]  # unlike one another: none is a near-duplicate
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": ce_id,
            "source": "/tests/security/secrets",
            "type": "dev.pivotwatch.strategy.reported",
            "data": {
                "company": company,
                "occurred": occurred,
                "title": title,
                "sources": [{"url": f"https://example.org/{ce_id}"}],
            },
        }
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = start_stack(tmp_path / "pw", seed=False)
    try:
        yield s
    finally:
        if s.proc.poll() is None:
            s.stop()


def cli(stack: Stack, *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "pivotwatch.cli", "keys", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def created_key(output: str) -> str:
    (line,) = [x for x in output.splitlines() if x.startswith("key ")]
    return line.split()[1]


@pytest.mark.e2e
def test_a_full_run_logs_no_key_and_no_secret(stack: Stack, tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.respond = in_order(500)  # the first delivery fails, so a retry is made and logged
    responses: list[httpx.Response] = []
    try:
        dev = stack.key
        writer = created_key(cli(stack, "create", "--name", "writer", "--scope", "events:write"))
        manager = created_key(
            cli(stack, "create", "--name", "manager", "--scope", "subscriptions:write")
        )
        doomed = created_key(cli(stack, "create", "--name", "doomed", "--scope", "admin"))
        cli(stack, "revoke", doomed.split("_")[1])

        def req(method: str, url: str, key: str | None, **kw: Any) -> httpx.Response:
            headers = {**kw.pop("headers", {})}
            if key is not None:
                headers["authorization"] = f"Bearer {key}"
            r = httpx.request(method, url, headers=headers, timeout=15, **kw)
            responses.append(r)
            return r

        sub = req("POST", f"{stack.notify}/v1/subscriptions", manager, json={"url": receiver.url})
        assert sub.status_code == 201, sub.text
        first_secret = sub.json()["secret"]
        sub_id = sub.json()["id"]
        rotated = req("POST", f"{stack.notify}/v1/subscriptions/{sub_id}/rotate-secret", manager)
        assert rotated.status_code == 201, rotated.text
        secret = rotated.json()["secret"]
        created = [sub, rotated]  # the two responses that may show a secret, once

        for i in range(3):
            r = req(
                "POST",
                f"{stack.ingest}/v1/events",
                writer,
                content=event(f"s-{i}", i),
                headers=STRUCTURED,
            )
            assert r.status_code == 202, r.text
        assert (
            req("POST", f"{stack.notify}/v1/subscriptions/{sub_id}/test", manager).status_code
            == 202
        )

        # Errors, each with something secret in the request.
        near_miss = writer[:-1] + ("A" if writer[-1] != "A" else "B")
        for key, status in [
            (near_miss, 401),
            (doomed, 401),
            ("pw_deadbeef_" + "Z" * 43, 401),
            (manager, 403),
        ]:
            r = req(
                "POST", f"{stack.ingest}/v1/events", key, content=event("x"), headers=STRUCTURED
            )
            assert r.status_code == status, (key[:12], r.text)
        assert req("POST", f"{stack.notify}/v1/subscriptions", writer, json={}).status_code == 403
        assert req("GET", f"{stack.notify}/v1/subscriptions", dev[:-2]).status_code == 401
        assert (
            req("GET", f"{stack.timeline}/v1/companies", None, params={"key": dev}).status_code
            == 200
        )
        assert (
            req("GET", f"{stack.ingest}/v1/nowhere", None, params={"api_key": writer}).status_code
            == 404
        )
        bad_body = {"url": receiver.url, "description": manager}
        assert (
            req(
                "PATCH",
                f"{stack.notify}/v1/subscriptions/{sub_id}",
                manager,
                json={**bad_body, "fifo": "x"},
            ).status_code
            == 422
        )

        # Every event and the test arrived, signed with the rotated secret, after a retry.
        got = receiver.wait_for(5, timeout=90)
        for hook in got:
            Webhook(secret).verify(hook.body, hook.headers)
        deliveries = wait_until(
            lambda: (
                [
                    d
                    for d in req(
                        "GET", f"{stack.notify}/v1/subscriptions/{sub_id}/deliveries", manager
                    ).json()
                    if d["status"] == "succeeded"
                ]
                if len(receiver.snapshot()) >= 5
                else None
            ),
            60,
        )
        assert deliveries
        for d in deliveries:
            req("GET", f"{stack.notify}/v1/deliveries/{d['id']}", manager)
        req("GET", f"{stack.notify}/v1/subscriptions/{sub_id}", manager)
        req("GET", f"{stack.notify}/v1/subscriptions", dev)
        req("GET", f"{stack.notify}/v1/subscriptions/{sub_id}/records", manager)
    finally:
        receiver.close()
        code = stack.stop()
    assert code == 0, "\n".join(stack.output[-50:])

    keys = needles(writer, manager, doomed, near_miss)
    webhook_secrets = needles(first_secret, secret)
    # The embedded Redis's password (when `up` started one) is a secret too.
    redis_password = stack.home / "redis" / "password"
    if redis_password.exists():
        webhook_secrets.update(needles(redis_password.read_text().strip()))
    logs = sorted(p for p in stack.home.rglob("*.log") if p.is_file())
    names = {p.name for p in logs}
    assert {"ingest.log", "notify.log", "timeline.log", "notify-worker.log"} <= names, names
    assert any("delivery attempt failed" in p.read_text(errors="replace") for p in logs)
    leaks = {
        str(p.relative_to(stack.home)): find_leaks(
            p.read_text(errors="replace"), {**keys, **webhook_secrets, **needles(dev)}
        )
        for p in logs
    }
    assert {k: v for k, v in leaks.items() if v} == {}
    # `up` prints the development key once, by design (README); nothing else of it or the rest.
    printed = "\n".join(stack.output)
    assert find_leaks(printed, {**keys, **webhook_secrets}) == []
    assert printed.count(dev) == 1
    # No response after creation showed a webhook secret or echoed a key.
    for r in responses:
        if any(r is c for c in created):
            continue
        assert find_leaks(r.text, {**webhook_secrets, **keys, **needles(dev)}) == [], (
            r.request.method,
            r.request.url.path,
        )


class TestInProcessLogs:
    @pytest.fixture
    def records(self) -> Iterator[list[logging.LogRecord]]:
        """Every log record any logger emits, at DEBUG, with its formatted message."""
        got: list[logging.LogRecord] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                record.rendered = self.format(record)  # type: ignore[attr-defined]
                got.append(record)

        handler = Keep(logging.DEBUG)
        root = logging.getLogger()
        old = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            yield got
        finally:
            root.removeHandler(handler)
            root.setLevel(old)

    async def test_ingest_and_timeline_log_no_key_whatever_is_presented(
        self,
        settings: Settings,
        serve: Any,
        make_key: Callable[..., str],
        records: list[logging.LogRecord],
    ) -> None:
        writer = make_key(Scope.EVENTS_WRITE)
        reader = make_key(Scope.SUBSCRIPTIONS_WRITE)
        near = writer[:-1] + ("A" if writer[-1] != "A" else "B")
        locked = settings.model_copy(update={"require_read_key": True})
        async with serve(ingest_app(settings)) as ingest:
            for key in (writer, reader, near, "pw_x_" + writer):
                await ingest.post(
                    "/v1/events",
                    content=event("in-process"),
                    headers={**STRUCTURED, "authorization": f"Bearer {key}"},
                )
            await ingest.post(
                "/v1/events",
                content=b'{"broken',
                headers={**STRUCTURED, "authorization": f"Bearer {writer}"},
            )
        async with serve(timeline_app(locked)) as timeline:
            for key in (writer, near):
                await timeline.get("/v1/companies", headers={"authorization": f"Bearer {key}"})
            await timeline.get("/v1/companies", params={"key": writer})
        assert records, "the apps logged nothing at DEBUG: the scan would prove nothing"
        secrets = needles(writer, reader, near)
        for record in records:
            if record.name.startswith(("httpx", "httpcore")):
                continue  # this test's own client, which logs the URLs it requests

            text = f"{record.rendered} {record.__dict__}"  # type: ignore[attr-defined]
            assert find_leaks(text, secrets) == [], record.name


def test_the_scan_would_see_a_leak() -> None:
    """The needles match what a leak looks like: the whole key or only its random part."""
    key = "pw_0a1b2c3d_" + "s" * 43
    assert len(find_leaks(f"authorization: Bearer {key}", needles(key))) == 2
    assert len(find_leaks("token=" + "s" * 43, needles(key))) == 1
    assert len(find_leaks("whsec_abc", needles("whsec_abc"))) == 2
    assert find_leaks("nothing here", needles(key, "whsec_abc")) == []
