"""`pivotwatch webhooks listen` as a real process: it verifies what the sender signs and prints
it, and turns away what was not signed with its secret."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pivotwatch.embedded import free_port
from shared.db import Subscription
from shared.webhooks import generate_secret
from tests.fixtures.process import OutputProcess


class Listener:
    def __init__(self, secret: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.run = OutputProcess(
            [
                sys.executable,
                "-m",
                "pivotwatch.cli",
                "webhooks",
                "listen",
                "--port",
                str(self.port),
                *extra,
            ],
            {"PIVOTWATCH_WEBHOOK_SECRET": secret, "PATH": "/usr/bin:/bin"},
            ready_text="listening on",
        )
        assert self.run.ready.wait(30), "the listener did not start:\n" + "\n".join(self.run.lines)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        return self.run.wait_for(text, timeout)

    def stop(self) -> None:
        self.run.stop()


@pytest.fixture
def listener_for() -> Iterator[Any]:
    made: list[Listener] = []

    def make(secret: str, *extra: str) -> Listener:
        made.append(Listener(secret, *extra))
        return made[-1]

    yield make
    for listener in made:
        listener.stop()


class TestWebhooksListen:
    def test_prints_each_verified_delivery(self, kit: Any, listener_for: Any) -> None:
        sub_id, secret = kit.subscribe("http://127.0.0.1:1/placeholder")
        listener = listener_for(secret)
        with kit.sessions() as session, session.begin():
            sub = session.get(Subscription, sub_id)
            assert sub is not None
            sub.url = listener.url
        kit.fanout(kit.add_event(title="gpt-oss released under Apache 2.0"))
        kit.drive(kit.settled(sub_id))
        (d,) = kit.deliveries(sub_id)
        assert d.status == "succeeded" and d.last_status_code == 204
        out = listener.wait_for(f"verified {d.webhook_id}")
        assert "dev.pivotwatch.event.created sequence=1" in out
        assert "gpt-oss released under Apache 2.0" in out
        assert secret not in out

    def test_a_forged_or_foreign_signature_is_rejected(self, listener_for: Any) -> None:
        listener = listener_for(generate_secret())
        headers = {
            "webhook-id": "msg_forged",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        }
        r = httpx.post(listener.url, content=b'{"x":1}', headers=headers)
        unsigned = httpx.post(listener.url, content=b"{}")
        assert r.status_code == 401 and "no signature matches" in r.text
        assert unsigned.status_code == 401
        out = listener.wait_for("rejected msg_forged")
        assert "no signature matches the secret" in out

    def test_a_malformed_secret_is_refused_at_start(self) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "pivotwatch.cli", "webhooks", "listen", "--secret", "nope"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 2
        assert "whsec_" in proc.stderr
