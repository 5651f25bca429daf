"""The receiver's verification snippet in docs/webhooks.md works as printed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from shared.webhooks import generate_secret, signature_header

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def snippet() -> Any:
    text = DOC.read_text()
    block = text.split("<!-- verify-snippet -->", 1)[1].split("```python\n", 1)[1]
    code = block.split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # our own documentation, run as printed
    return namespace["verify_webhook"]


class TestDocsSnippet:
    def test_accepts_what_pivotwatch_signs_during_a_rotation(self) -> None:
        verify = snippet()
        old, new = generate_secret(), generate_secret()
        body = b'{"type":"dev.pivotwatch.event.created"}'
        ts = int(time.time())
        headers = {
            "Webhook-Id": "msg_1",
            "Webhook-Timestamp": str(ts),
            "Webhook-Signature": signature_header([new, old], "msg_1", ts, body),
        }
        assert verify(old, headers, body) is True
        assert verify(new, headers, body) is True
        assert verify(generate_secret(), headers, body) is False
        assert verify(new, headers, body + b" ") is False

    def test_refuses_an_old_timestamp(self) -> None:
        verify = snippet()
        s = generate_secret()
        ts = int(time.time()) - 600
        headers = {
            "webhook-id": "m",
            "webhook-timestamp": str(ts),
            "webhook-signature": signature_header([s], "m", ts, b"{}"),
        }
        assert verify(s, headers, b"{}") is False
