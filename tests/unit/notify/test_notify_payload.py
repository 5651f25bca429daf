"""The payload envelope, the rate-limit slot arithmetic, which secrets sign, and the listener's
check — the pure parts of fan-out and claim (`services/notify/repository.py`)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from standardwebhooks import Webhook

from pivotwatch.webhooks_listen import check
from services.notify.repository import Claimed, active_secrets, build_body, rate_slot
from shared.db import Subscription
from shared.webhooks import generate_secret, signature_header

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class TestBuildBody:
    def test_is_a_structured_cloudevent_with_the_sequence(self) -> None:
        doc = orjson.loads(build_body("msg_1", "event.created", 7, {"event": {"x": 1}}, "ev-1"))
        assert doc["specversion"] == "1.0"
        assert doc["id"] == "msg_1"
        assert doc["type"] == "dev.pivotwatch.event.created"
        assert doc["source"] == "/pivotwatch/notify"
        assert doc["datacontenttype"] == "application/json"
        assert doc["subject"] == "ev-1"
        assert doc["sequence"] == "7"  # the CloudEvents sequence extension is a string
        assert doc["data"] == {"kind": "event.created", "sequence": 7, "event": {"x": 1}}
        assert datetime.fromisoformat(doc["time"]).tzinfo is not None


class TestRateSlot:
    def test_first_send_goes_now(self) -> None:
        assert rate_slot(None, NOW, 5.0, 1.0) == (NOW, NOW + timedelta(seconds=0.2))

    def test_slots_are_spaced_one_over_the_rate(self) -> None:
        nxt: datetime | None = None
        slots = []
        while (got := rate_slot(nxt, NOW, 5.0, 1.0)) is not None:
            slot, nxt = got
            slots.append((slot - NOW).total_seconds())
        assert slots == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])

    def test_a_slot_in_the_past_is_now(self) -> None:
        slot, _ = rate_slot(NOW - timedelta(hours=1), NOW, 2.0, 1.0) or (None, None)
        assert slot == NOW

    def test_nothing_beyond_the_horizon(self) -> None:
        assert rate_slot(NOW + timedelta(seconds=1.5), NOW, 1.0, 1.0) is None


class TestActiveSecrets:
    def test_expired_secrets_stop_signing(self) -> None:
        sub = Subscription(
            secrets=[
                {"secret": "new", "expires_at": None},
                {"secret": "grace", "expires_at": (NOW + timedelta(hours=1)).isoformat()},
                {"secret": "old", "expires_at": (NOW - timedelta(seconds=1)).isoformat()},
            ]
        )
        assert active_secrets(sub, NOW) == ["new", "grace"]

    def test_claimed_never_shows_its_secrets(self) -> None:
        c = Claimed(uuid.uuid4(), uuid.uuid4(), "http://x", "msg", b"", ["whsec_s"], 0, NOW, NOW)
        assert "whsec_s" not in repr(c)


class TestSignatures:
    def test_every_active_secret_signs_and_each_verifies_with_the_reference(self) -> None:
        a, b = generate_secret(), generate_secret()
        body = b'{"hello":"world"}'
        ts = int(time.time())
        headers = {
            "webhook-id": "msg_x",
            "webhook-timestamp": str(ts),
            "webhook-signature": signature_header([a, b], "msg_x", ts, body),
        }
        assert Webhook(a).verify(body, headers) == {"hello": "world"}
        assert Webhook(b).verify(body, headers) == {"hello": "world"}


class TestListenerCheck:
    def _headers(self, secret: str, body: bytes, ts: int) -> dict[str, str]:
        return {
            "Webhook-Id": "msg_1",
            "Webhook-Timestamp": str(ts),
            "Webhook-Signature": signature_header([secret], "msg_1", ts, body),
        }

    def test_accepts_a_genuine_delivery(self) -> None:
        s = generate_secret()
        assert check(s, self._headers(s, b"{}", 1000), b"{}", 1000.0) is None

    def test_rejects_another_secret_a_changed_body_and_an_old_timestamp(self) -> None:
        s = generate_secret()
        h = self._headers(s, b"{}", 1000)
        assert check(generate_secret(), h, b"{}", 1000.0) == "no signature matches the secret"
        assert check(s, h, b'{"x":1}', 1000.0) == "no signature matches the secret"
        assert "five minutes" in (check(s, h, b"{}", 1000.0 + 301) or "")
        assert "missing" in (check(s, {}, b"{}", 1000.0) or "")
