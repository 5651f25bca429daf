"""`pivotwatch webhooks listen`: a local webhook receiver for developers.

It verifies each request as a receiver should (Standard Webhooks: the signature over
`id.timestamp.body` by the subscription's secret, a timestamp within five minutes), prints the
delivery, and answers 204 — or 401 with the reason when the signature does not hold. Point a
subscription at it (`pivotwatch up` allows loopback targets) to see what your endpoint will get.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from shared.webhooks import InvalidSecret, secret_bytes, verify

TOLERANCE_SECONDS = 300
MAX_BODY = 4 * 1024 * 1024


def check(secret: str, headers: dict[str, str], body: bytes, now: float) -> str | None:
    """None when the request is a genuine delivery, otherwise the reason it is not."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signature = (
        h.get("webhook-id"),
        h.get("webhook-timestamp"),
        h.get("webhook-signature"),
    )
    if not (msg_id and stamp and signature):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not stamp.isdigit():
        return "webhook-timestamp is not integer seconds"
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return "webhook-timestamp is more than five minutes away from now"
    if not verify(secret, msg_id, int(stamp), body, signature):
        return "no signature matches the secret"
    return None


def _summary(body: bytes) -> tuple[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        return "(not JSON)", body.decode("utf-8", "replace")
    if not isinstance(doc, dict):
        return "", doc
    return f"{doc.get('type', '?')} sequence={doc.get('sequence', '?')}", doc


def make_server(host: str, port: int, secret: str, status: int, out: TextIO) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self._answer(413, "body too large")
                return
            body = self.rfile.read(length)
            reason = check(secret, dict(self.headers.items()), body, time.time())
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            msg_id = self.headers.get("webhook-id", "-")
            if reason is not None:
                print(f"[{stamp}] rejected {msg_id} {self.path}: {reason}", file=out, flush=True)
                self._answer(401, reason)
                return
            what, doc = _summary(body)
            print(f"[{stamp}] verified {msg_id} {what}", file=out)
            print(json.dumps(doc, indent=2, ensure_ascii=False), file=out, flush=True)
            self._answer(status, "")

        def _answer(self, code: int, text: str) -> None:
            payload = text.encode()
            self.send_response(code)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return None

    return ThreadingHTTPServer((host, port), Handler)


def cmd_listen(args: argparse.Namespace) -> int:
    secret = args.secret or os.environ.get("PIVOTWATCH_WEBHOOK_SECRET", "")
    if not secret:
        print(
            "pivotwatch: give the subscription's secret: --secret or PIVOTWATCH_WEBHOOK_SECRET",
            file=sys.stderr,
        )
        return 2
    try:
        secret_bytes(secret)
    except InvalidSecret as exc:
        print(f"pivotwatch: --secret: {exc}", file=sys.stderr)
        return 2
    try:
        server = make_server(args.host, args.port, secret, args.status, sys.stdout)
    except OSError as exc:
        print(f"pivotwatch: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = server.server_address[1]
    print(f"listening on http://{args.host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def add_parser(sub: Any) -> None:
    """Register `webhooks listen` on the CLI's subcommands."""
    webhooks = sub.add_parser("webhooks", help="webhook developer tools")
    ws = webhooks.add_subparsers(dest="webhooks_cmd", required=True)
    listen = ws.add_parser("listen", help="receive, verify and print deliveries locally")
    listen.add_argument("--port", type=int, default=8787, help="port (0: any free port)")
    listen.add_argument("--host", default="127.0.0.1")
    listen.add_argument(
        "--secret", help="the subscription's whsec_ secret (or PIVOTWATCH_WEBHOOK_SECRET)"
    )
    listen.add_argument("--status", type=int, default=204, help="answer to verified deliveries")
    listen.set_defaults(func=cmd_listen)
