"""A small, fast HTTP/1.1 load generator (asyncio streams + uvloop), run as its own process.

httpx costs more CPU per request than the services it would measure on a 2-core machine, so this
speaks just enough HTTP/1.1 keep-alive: fixed request bytes per connection, Content-Length bodies.
Prints one JSON line: requests, statuses, latencies (ms) percentiles, duration, CPU seconds used.

    python bench/loadgen.py --url http://127.0.0.1:8001/v1/events --connections 32 --seconds 10 \
        --method POST --header 'content-type: application/cloudevents+json' --body-file body.json
    # --rate N caps the offered rate (requests/s, spread over connections); --unique rewrites
    # the placeholder {n} in the body (and in the URL's path or query) with a per-request
    # counter and {d} with a day derived from it ({md}: that day's month and day), so events are
    # neither duplicates nor all on one day, and a URL can miss every cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from datetime import date, timedelta
from urllib.parse import urlsplit

EPOCH = date(2000, 1, 1)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:].strip())
    if length:
        await reader.readexactly(length)
    return status


async def worker(
    args: argparse.Namespace,
    host: str,
    port: int,
    path: str,
    deadline: float,
    counter: list[int],
    latencies: list[float],
    statuses: dict[int, int],
    interval: float,
    sent_at: list[float],
    phase: float = 0.0,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    headers = "".join(f"{h}\r\n" for h in args.header)
    bodies: list[bytes] = args.bodies
    next_at = time.perf_counter() + phase
    try:
        while time.perf_counter() < deadline:
            if interval:
                now = time.perf_counter()
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                next_at += interval
            counter[0] += 1
            n = counter[0]
            body = bodies[n % len(bodies)]
            if args.unique:
                day = (EPOCH + timedelta(days=n % 9000)).isoformat().encode()
                body = (
                    body.replace(b"{n}", str(n).encode())
                    .replace(b"{d}", day)
                    .replace(b"{md}", day[5:])
                )
            target = path.replace("{n}", str(n)) if args.unique else path
            req = (
                f"{args.method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            start = time.perf_counter()
            writer.write(req)
            status = await read_response(reader)
            end = time.perf_counter()
            latencies.append((end - start) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            if args.record_sent:
                sent_at.append(time.time())
    finally:
        writer.close()


async def main(args: argparse.Namespace) -> dict[str, object]:
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = [args.start]
    sent_at: list[float] = []
    interval = args.connections / args.rate if args.rate else 0.0
    start = time.perf_counter()
    deadline = start + args.seconds
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    # At a capped rate the connections take turns, evenly spaced (connection i starts i/N of an
    # interval late): in lock step they would offer bursts of N requests at once.
    await asyncio.gather(
        *(
            worker(
                args,
                host,
                port,
                path,
                deadline,
                counter,
                latencies,
                statuses,
                interval,
                sent_at,
                phase=interval * i / args.connections,
            )
            for i in range(args.connections)
        )
    )
    elapsed = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "cpu_seconds": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        "last_n": counter[0],
    }


def cli() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--method", default="GET")
    p.add_argument("--header", action="append", default=[])
    # Several --body-file: request n sends body n mod their number (a varied mix of batches).
    p.add_argument("--body-file", action="append", default=[])
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--unique", action="store_true")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--record-sent", action="store_true")
    args = p.parse_args()
    args.bodies = [open(f, "rb").read() for f in args.body_file] or [b""]  # noqa: SIM115
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(main(args))
    result["pid"] = os.getpid()
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    cli()
