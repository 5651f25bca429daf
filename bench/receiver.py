"""A fast local webhook receiver for P5, run as its own process (asyncio protocol + uvloop).

Answers every POST with 204 at once (keep-alive) and remembers, per request, the `webhook-id`
header (or "-" without one) and when it arrived. `GET /stats` answers the counts so far as JSON;
on SIGTERM it writes every (webhook-id, arrival epoch seconds) pair to the file named by --out.

    python bench/receiver.py --port 9000 --out /tmp/received.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time

_OK = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


class Hooks(asyncio.Protocol):
    received: list[tuple[str, float]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            length = 0
            wid = "-"
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                lname = name.strip().lower()
                if lname == "content-length":
                    length = int(value.strip())
                elif lname == "webhook-id":
                    wid = value.strip()
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            if head.startswith("GET /stats"):
                ids = [w for w, _ in Hooks.received]
                body = json.dumps(
                    {
                        "count": len(ids),
                        "unique": len(set(ids)),
                        "first": Hooks.received[0][1] if ids else None,
                        "last": Hooks.received[-1][1] if ids else None,
                    }
                ).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                continue
            Hooks.received.append((wid, time.time()))
            self.transport.write(_OK)


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    server = await loop.create_server(Hooks, "127.0.0.1", args.port, backlog=1024)
    await stop
    server.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    parsed = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(parsed))
    with open(parsed.out, "w") as f:
        json.dump(Hooks.received, f)
