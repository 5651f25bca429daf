"""Webhook POSTs with aiohttp's client, held to what delivery needs.

A webhook is one POST with a body we built, to an address already vetted, and a response we only
need the status, `Retry-After` and the first KiB of. On top of one `aiohttp.ClientSession`:

- the request goes to the vetted IP address itself (the URL's host is the IP, so aiohttp looks
  nothing up); `Host` carries the name, and for HTTPS `server_hostname` sets SNI and the name the
  certificate is verified for, against the system's / certifi's roots;
- connections are kept per (scheme, address, port, TLS name): aiohttp's pool key holds the
  address, port, TLS and `server_hostname`, so a TLS connection is only reused for the name it
  was verified for; idle at most `KEEPALIVE_SECONDS`;
- the whole exchange (connect, write, response, body) is bounded by one deadline, so an attempt
  never outlives the timeout its lease was computed with; the error says which phase ran out
  (`ConnectTimeout`, `WriteTimeout`, `ReadTimeout`), in httpx's names, as attempts record them;
- at most `MAX_BODY` bytes of the body are read; a longer body ends the connection instead of
  being drained;
- a request on a reused connection that the server had closed meanwhile (no response) is sent
  once more on a new connection (aiohttp itself retries only idempotent methods);
- no redirects followed (a 3xx is just a status), no proxy or environment consulted, no cookies
  kept, no compression asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote

import aiohttp
from yarl import URL

MAX_BODY = 64 * 1024
KEEPALIVE_SECONDS = 5.0

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


class _Attempt:
    """How far one request got (set by the trace hooks): which error a failure is."""

    __slots__ = ("connected", "reused", "sent")

    def __init__(self) -> None:
        self.connected = False
        self.reused = False
        self.sent = False


def _attempt(ctx: SimpleNamespace) -> _Attempt:
    attempt: _Attempt = ctx.trace_request_ctx
    return attempt


async def _on_reused(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
    a = _attempt(ctx)
    a.connected = a.reused = True


async def _on_created(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
    _attempt(ctx).connected = True


async def _on_headers_sent(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
    _attempt(ctx).sent = True


def _tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    with contextlib.suppress(ImportError):
        import certifi  # the roots httpx used, where installed

        ctx.load_verify_locations(certifi.where())
    return ctx


class Client:
    """Kept-alive connections for one event loop; use it only on that loop (the session is made
    on first use, on the loop)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._tls = tls  # the roots to verify against; the system's and certifi's by default

    def _open(self) -> aiohttp.ClientSession:
        trace = aiohttp.TraceConfig()
        trace.on_connection_reuseconn.append(_on_reused)
        trace.on_connection_create_end.append(_on_created)
        trace.on_request_headers_sent.append(_on_headers_sent)
        trace.freeze()
        connector = aiohttp.TCPConnector(
            ssl=self._tls or _tls_context(),
            limit=0,  # the caller bounds what is in flight (delivery.SEND_CONCURRENCY)
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=None),  # our deadline only
            trust_env=False,
            auto_decompress=False,
            skip_auto_headers=("Accept", "Accept-Encoding"),
            trace_configs=[trace],
        )

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
        if self._session is None:
            self._session = self._open()
        scheme, address, port, server_name = origin
        host = f"[{address}]" if ":" in address else address
        url = URL(f"{scheme}://{host}:{port}{quote(target, safe=_URL_CHARS)}", encoded=True)
        attempt = _Attempt()
        try:
            async with asyncio.timeout(seconds):
                try:
                    resp = await self._request(url, headers, body, server_name, attempt)
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                    if not attempt.reused or isinstance(exc, aiohttp.ClientConnectorError):
                        raise
                    # Closed by the server while idle: the request never reached it.
                    attempt = _Attempt()
                    resp = await self._request(url, headers, body, server_name, attempt)
                complete = False
                try:
                    content, complete = await _read_capped(resp)
                finally:
                    if complete:
                        resp.release()
                    else:
                        resp.close()
        except TimeoutError as exc:
            if not attempt.connected:
                raise ConnectTimeout("timed out connecting") from exc
            if not attempt.sent:
                raise WriteTimeout("timed out sending the request") from exc
            raise ReadTimeout("timed out waiting for the response") from exc
        except aiohttp.ClientConnectorError as exc:  # TLS failures included
            raise ConnectError(str(exc.os_error) or type(exc).__name__) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise RemoteProtocolError("server closed the connection without a response") from exc
        except aiohttp.ClientOSError as exc:
            kind = ReadError if attempt.sent else WriteError
            raise kind(str(exc) or type(exc).__name__) from exc
        except aiohttp.ClientError as exc:  # a malformed or cut-off response
            raise RemoteProtocolError(str(exc) or type(exc).__name__) from exc
        except ValueError as exc:  # a header aiohttp refuses to send (a line break in it)
            raise LocalProtocolError(str(exc)) from exc
        return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, content)

    async def _request(
        self,
        url: URL,
        headers: list[tuple[str, str]],
        body: bytes,
        server_name: str | None,
        attempt: _Attempt,
    ) -> aiohttp.ClientResponse:
        assert self._session is not None
        return await self._session.request(
            "POST",
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            server_hostname=server_name,
            trace_request_ctx=attempt,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


async def _read_capped(resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    """Up to MAX_BODY bytes of the body, and whether that was all of it."""
    length = resp.content_length
    if length is not None and length <= MAX_BODY:
        return await resp.read(), True
    out = bytearray()
    while len(out) < MAX_BODY:
        chunk = await resp.content.read(MAX_BODY - len(out))
        if not chunk:
            return bytes(out), True
        out += chunk
    return bytes(out), resp.content.at_eof()
