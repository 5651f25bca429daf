"""A small HTTP/1.1 client for webhook POSTs: asyncio streams and kept-alive connections.

httpx/httpcore cost ~70% of the notify worker's CPU per delivery (profiled: connection-pool
bookkeeping that checks every pooled connection per request, anyio wrappers, a failed `sniffio`
import per call, the headers and the body written separately). A webhook is one POST with a body
we built, to an address already vetted, and a response we only need the status, `Retry-After`
and the first KiB of; this does exactly that:

- one `write` per request (head and body together);
- the response parsed by llhttp (httptools, the parser uvicorn uses), strict: status line,
  headers, then a body by `content-length`, chunked, or until the connection closes (HTTP/1.0);
  at most `MAX_BODY` bytes of it kept, and a longer body ends the connection instead of being
  drained. The receiver is not trusted: a status outside 100-599, a malformed length, chunk
  size or header line is a `RemoteProtocolError`, never another error;
- the whole exchange (connect, write, response) bounded by one deadline, so an attempt never
  outlives the timeout its lease was computed with; the error says which phase ran out
  (`ConnectTimeout`, `WriteTimeout`, `ReadTimeout`), in httpx's names, as attempts record them;
- connections kept per (scheme, address, port, TLS name) and reused only when the response
  allowed it, idle at most `KEEPALIVE_SECONDS`; a request on a reused connection that the
  server had closed meanwhile (nothing received) is sent once more on a new connection;
- TLS verified against the system's / certifi's roots with SNI set to the name, never to the IP.

No redirects are followed (a 3xx is just a status), no proxy or environment is consulted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import httptools

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024
KEEPALIVE_SECONDS = 5.0
MAX_IDLE_PER_ORIGIN = 32
MAX_ORIGINS = 1024

# RFC 3986 reserved and unreserved characters, and % (a path arrives already encoded).
_URL_CHARS = "%:/?#[]@!$&'()*+,;=-._~"

Origin = tuple[str, str, int, str | None]  # scheme, address, port, TLS server name


class HTTPError(Exception):
    """A failed exchange; the class name says what failed (as httpx's do)."""


class ConnectError(HTTPError):
    pass


class ConnectTimeout(HTTPError):
    pass


class WriteError(HTTPError):
    pass


class WriteTimeout(HTTPError):
    pass


class ReadError(HTTPError):
    pass


class ReadTimeout(HTTPError):
    pass


class RemoteProtocolError(HTTPError):
    pass


class LocalProtocolError(HTTPError):
    pass


@dataclass(slots=True)
class Response:
    status_code: int
    headers: dict[str, str]  # lower-case names; the last of repeated ones
    content: bytes  # at most MAX_BODY bytes


@dataclass(slots=True)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def usable(self, now: float) -> bool:
        return (
            now - self.idle_since < KEEPALIVE_SECONDS
            and not self.reader.at_eof()
            and not self.writer.is_closing()
            and not self.reader._buffer  # type: ignore[attr-defined]  # unsolicited bytes
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Stale(Exception):
    """A reused connection was closed by the server before any byte of the response."""


class Client:
    """Kept-alive connections for one event loop; use it only on that loop."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._idle: dict[Origin, list[_Conn]] = {}
        self._tls = tls  # the roots to verify against; the system's and certifi's by default

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            ctx = ssl.create_default_context()
            with contextlib.suppress(ImportError):
                import certifi  # the roots httpx used, where installed

                ctx.load_verify_locations(certifi.where())
            self._tls = ctx
        return self._tls

    async def post(
        self,
        origin: Origin,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        seconds: float,
    ) -> Response:
        """POST `body` to `target` (path and query) at `origin` within `seconds`; `headers` must
        include Host. Whatever in `target` is not a URL character is percent-encoded."""
        head = [f"POST {quote(target, safe=_URL_CHARS)} HTTP/1.1"]
        for k, v in headers:
            if "\r" in v or "\n" in v or "\r" in k or "\n" in k:
                raise LocalProtocolError(f"header {k!r} holds a line break")
            head.append(f"{k}: {v}")
        head.append(f"content-length: {len(body)}")
        try:
            request = ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body
        except UnicodeEncodeError as exc:  # a Host must be sent as its IDNA A-labels
            raise LocalProtocolError("the request head is not ASCII") from exc
        deadline = time.monotonic() + seconds
        conn = self._take(origin)
        if conn is not None:
            try:
                return await self._exchange(origin, conn, request, deadline, reused=True)
            except _Stale:
                pass  # closed by the server while idle: the request never reached it
        conn = await self._connect(origin, deadline)
        try:
            return await self._exchange(origin, conn, request, deadline, reused=False)
        except _Stale as exc:
            raise RemoteProtocolError("server closed the connection without a response") from exc

    def _take(self, origin: Origin) -> _Conn | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now):
                return conn
            conn.close()
        return None

    def _give_back(self, origin: Origin, conn: _Conn) -> None:
        idle = self._idle.get(origin)
        if idle is None:
            if len(self._idle) >= MAX_ORIGINS:
                self._prune()
            idle = self._idle[origin] = []
        if len(idle) >= MAX_IDLE_PER_ORIGIN:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def _prune(self) -> None:
        now = time.monotonic()
        for origin, idle in list(self._idle.items()):
            keep = [c for c in idle if c.usable(now)]
            for c in idle:
                if c not in keep:
                    c.close()
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]
        while len(self._idle) >= MAX_ORIGINS:
            for c in self._idle.pop(next(iter(self._idle))):
                c.close()

    async def _connect(self, origin: Origin, deadline: float) -> _Conn:
        scheme, address, port, server_name = origin
        tls = self._tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                reader, writer = await asyncio.open_connection(
                    address,
                    port,
                    ssl=tls,
                    server_hostname=server_name if tls is not None else None,
                    limit=MAX_HEAD,
                )
        except TimeoutError as exc:
            raise ConnectTimeout("timed out connecting") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        except ValueError as exc:  # e.g. a TLS server name the ssl module cannot encode
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        return _Conn(reader, writer)

    async def _exchange(
        self, origin: Origin, conn: _Conn, request: bytes, deadline: float, *, reused: bool
    ) -> Response:
        phase = "write"
        received = False
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                conn.writer.write(request)
                await conn.writer.drain()
                phase = "read"
                response, keep = await _read_response(conn.reader)
                received = True
        except TimeoutError as exc:
            conn.close()
            if phase == "write":
                raise WriteTimeout("timed out sending the request") from exc
            raise ReadTimeout("timed out waiting for the response") from exc
        except _Incomplete as exc:
            conn.close()
            if reused and not exc.got_bytes:
                raise _Stale from exc
            raise RemoteProtocolError(str(exc)) from exc
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            if reused and not received:
                raise _Stale from exc
            kind = WriteError if phase == "write" else ReadError
            raise kind(str(exc) or type(exc).__name__) from exc
        except ValueError as exc:  # a malformed response (or over the limits)
            conn.close()
            raise RemoteProtocolError(str(exc)) from exc
        if keep:
            self._give_back(origin, conn)
        else:
            conn.close()
        return response

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        conns = [c for cs in idle.values() for c in cs]
        for c in conns:
            c.close()
        for c in conns:
            with contextlib.suppress(Exception):
                await c.writer.wait_closed()


class _Incomplete(Exception):
    def __init__(self, message: str, got_bytes: bool) -> None:
        super().__init__(message)
        self.got_bytes = got_bytes


def _loop_time(deadline: float) -> float:
    """`deadline` (time.monotonic) on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


class _Message:
    """What httptools' (llhttp's) callbacks say of the final response; 1xx ones are skipped."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_bytes = 0
        self._start()
        self.done = False
        self.keep = False

    def _start(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.head_done = False
        self.truncated = False

    # -- llhttp's callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.done:
            self.keep = False  # bytes after the final response: never reuse this connection
        else:
            self._start()

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.done:
            self.headers[name.decode("latin-1").lower()] = value.decode("latin-1").strip(" \t")

    def on_headers_complete(self) -> None:
        if not self.done:
            self.status = self.parser.get_status_code()
            self.head_done = True
            if not 100 <= self.status <= 599:
                raise ValueError(f"malformed status line: status code {self.status}")

    def on_body(self, chunk: bytes) -> None:
        if self.done:
            return
        room = MAX_BODY - len(self.body)
        self.body += chunk[:room]
        if len(chunk) > room:
            self.truncated = True

    def on_message_complete(self) -> None:
        if not self.done and self.status >= 200:  # informational (an unasked 100 Continue)
            self.done = True
            self.keep = self.parser.should_keep_alive()  # only known inside the callbacks

    # -- reading -----------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if not self.head_done:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            raise ValueError(str(exc.__context__ or exc)) from exc
        except httptools.HttpParserInvalidStatusError as exc:
            raise ValueError(f"malformed status line: {exc}") from exc
        except httptools.HttpParserError as exc:
            if self.done:
                self.keep = False  # junk after the final response: it stands; the connection ends
                return
            raise ValueError(f"malformed response: {exc}") from exc
        if not self.head_done and self.head_bytes > MAX_HEAD:
            raise ValueError("response head too large")

    def by_connection_end(self) -> bool:
        """A body delimited by the connection's end (no length, not chunked)."""
        h = self.headers
        return "content-length" not in h and "chunked" not in h.get("transfer-encoding", "").lower()


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """The final response (1xx skipped) and whether the connection may be reused. Parsed by
    llhttp (httptools, what uvicorn parses with), at most MAX_BODY bytes of the body read."""
    m = _Message()
    got = False
    while not m.done and not m.truncated:
        data = await reader.read(64 * 1024)
        if not data:
            if m.head_done and m.by_connection_end() and m.status not in (204, 304):
                m.done = True  # an HTTP/1.0-style body ends with the connection
                return Response(m.status, m.headers, bytes(m.body)), False
            if got and m.head_done:
                raise _Incomplete("connection closed in the response body", True)
            raise _Incomplete("connection closed before a response", got)
        got = True
        m.feed(data)
    keep = m.done and not m.truncated and m.keep
    return Response(m.status, m.headers, bytes(m.body)), keep
