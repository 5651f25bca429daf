"""The webhook HTTP/1.1 client against real loopback servers, plain and TLS: framing,
keep-alive, limits, the TLS name apart from the address, and the error names attempts record."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from services.notify import http1

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEADERS = [("host", "example.test"), ("content-type", "application/json")]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    length = next(
        int(line.split(":", 1)[1])
        for line in head.split("\r\n")
        if line.lower().startswith("content-length:")
    )
    return head, await reader.readexactly(length)


class Server:
    """A loopback server answering each request with `answer(n)` (raw bytes, n counts requests);
    a `None` answer closes the connection without a response."""

    def __init__(
        self,
        answer: Callable[[int], bytes | None],
        close_after: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.answer = answer
        self.close_after = close_after
        self.tls = tls
        self.connections = 0
        self.requests: list[tuple[str, bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    self.requests.append(await read_request(reader))
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                out = self.answer(len(self.requests) - 1)
                if out is None:
                    return
                writer.write(out)
                await writer.drain()
                if self.close_after:
                    return
        finally:
            writer.close()

    async def __aenter__(self) -> tuple[Server, http1.Origin]:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        return self, ("https" if self.tls else "http", "127.0.0.1", port, None)

    async def __aexit__(self, *_: object) -> None:
        self.server.close()
        await self.server.wait_closed()


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nretry-after: 7\r\n\r\nok"


class TestFraming:
    async def test_keep_alive_reuses_one_connection_and_sends_the_request_as_given(self) -> None:
        client = http1.Client()
        async with Server(lambda n: OK) as (srv, origin):
            for _ in range(3):
                r = await client.post(origin, "/hook?a=1", HEADERS, b"{}", 5)
                assert (r.status_code, r.content, r.headers["retry-after"]) == (200, b"ok", "7")
            await client.aclose()
        assert srv.connections == 1
        head, body = srv.requests[0]
        assert head.startswith("POST /hook?a=1 HTTP/1.1\r\nhost: example.test\r\n")
        assert "content-length: 2\r\n" in head and body == b"{}"

    async def test_chunked_and_close_delimited_bodies(self) -> None:
        chunked = (
            b"HTTP/1.1 500 Boom\r\ntransfer-encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
        )
        legacy = b"HTTP/1.0 202 Accepted\r\n\r\nuntil the end"
        client = http1.Client()
        async with Server(lambda n: chunked) as (srv, origin):
            r = await client.post(origin, "/", HEADERS, b"x", 5)
            assert (r.status_code, r.content) == (500, b"abcde")
            r = await client.post(origin, "/", HEADERS, b"x", 5)
            assert srv.connections == 1  # a complete chunked body leaves the connection usable
        async with Server(lambda n: legacy, close_after=True) as (srv, origin):
            r = await client.post(origin, "/", HEADERS, b"x", 5)
            assert (r.status_code, r.content) == (202, b"until the end")
            await client.post(origin, "/", HEADERS, b"x", 5)
            assert srv.connections == 2
        await client.aclose()

    async def test_an_informational_response_is_skipped(self) -> None:
        client = http1.Client()
        async with Server(lambda n: b"HTTP/1.1 100 Continue\r\n\r\n" + OK) as (_, origin):
            r = await client.post(origin, "/", HEADERS, b"x", 5)
        await client.aclose()
        assert r.status_code == 200

    async def test_a_long_body_is_cut_at_the_limit_and_its_connection_not_reused(self) -> None:
        big = b"y" * (http1.MAX_BODY + 10)
        answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big)
        client = http1.Client()
        async with Server(lambda n: answer) as (srv, origin):
            r = await client.post(origin, "/", HEADERS, b"x", 5)
            assert len(r.content) == http1.MAX_BODY
            await client.post(origin, "/", HEADERS, b"x", 5)
            assert srv.connections == 2
        await client.aclose()

    async def test_a_redirect_is_an_answer_not_followed(self) -> None:
        moved = (
            b"HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n"
        )
        client = http1.Client()
        async with Server(lambda n: moved) as (srv, origin):
            r = await client.post(origin, "/", HEADERS, b"x", 5)
        await client.aclose()
        assert (r.status_code, len(srv.requests)) == (302, 1)


class TestFailures:
    async def test_a_kept_connection_the_server_closed_is_replaced_once(self) -> None:
        client = http1.Client()
        # Keep-alive advertised, then the server hangs up after each answer.
        async with Server(lambda n: OK, close_after=True) as (srv, origin):
            for _ in range(3):
                assert (await client.post(origin, "/", HEADERS, b"x", 5)).status_code == 200
            await client.aclose()
        assert len(srv.requests) == 3  # nothing sent twice to the server

    async def test_a_request_a_kept_connection_dropped_unanswered_is_sent_once_more(self) -> None:
        # The second request meets the kept connection as the server drops it (the race with an
        # idle timeout): sent again, once, on a new connection.
        client = http1.Client()
        async with Server(lambda n: None if n == 1 else OK) as (srv, origin):
            for _ in range(2):
                assert (await client.post(origin, "/", HEADERS, b"x", 5)).status_code == 200
        await client.aclose()
        assert (srv.connections, len(srv.requests)) == (2, 3)

    async def test_no_response_on_a_new_connection_is_a_protocol_error(self) -> None:
        client = http1.Client()
        async with Server(lambda n: None) as (srv, origin):
            with pytest.raises(http1.RemoteProtocolError):
                await client.post(origin, "/", HEADERS, b"x", 5)
        await client.aclose()
        assert len(srv.requests) == 1  # not sent again

    async def test_a_server_that_never_answers_is_a_read_timeout(self) -> None:
        hold = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await hold.wait()
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = http1.Client()
        with pytest.raises(http1.ReadTimeout):
            await client.post(("http", "127.0.0.1", port, None), "/", HEADERS, b"x", 0.2)
        hold.set()
        server.close()
        await server.wait_closed()
        await client.aclose()

    async def test_the_deadline_covers_the_body(self) -> None:
        stalled = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab"  # 8 bytes never come
        client = http1.Client()
        async with Server(lambda n: stalled) as (_, origin):
            with pytest.raises(http1.ReadTimeout):
                await client.post(origin, "/", HEADERS, b"x", 0.3)
        await client.aclose()

    async def test_nothing_listening_is_a_connect_error(self) -> None:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        with pytest.raises(http1.ConnectError):
            await http1.Client().post(("http", "127.0.0.1", port, None), "/", HEADERS, b"", 5)

    @pytest.mark.parametrize(
        "answer",
        [
            b"SMTP nonsense\r\n\r\n",
            b"HTTP/1.1 2xx OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad\r\n\r\n",
            b"HTTP/1.1 99999999999 OK\r\ncontent-length: 0\r\n\r\n",  # int4 overflow
            b"HTTP/1.1 600 Nope\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 099 Nope\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 2\u00b20 OK\r\ncontent-length: 0\r\n\r\n".encode("latin-1"),
            "HTTP/1.1 200 OK\r\ncontent-length: \u00b2\r\n\r\nok".encode("latin-1"),
            b"HTTP/1.1 200 OK\r\ncontent-length: -2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1_0\r\n",
            b"HTTP/1.1 200 OK\r\nbad name: x\r\ncontent-length: 0\r\n\r\n",
        ],
    )
    async def test_a_malformed_response_is_a_protocol_error(self, answer: bytes) -> None:
        client = http1.Client()
        async with Server(lambda n: answer) as (_, origin):
            with pytest.raises(http1.RemoteProtocolError):
                await client.post(origin, "/", HEADERS, b"x", 5)
        await client.aclose()

    async def test_a_line_break_in_a_header_is_refused_before_sending(self) -> None:
        client = http1.Client()
        async with Server(lambda n: OK) as (srv, origin):
            with pytest.raises(http1.LocalProtocolError):
                await client.post(origin, "/", [("host", "a\r\nx: y")], b"x", 5)
        assert srv.requests == []

    async def test_a_host_not_in_ascii_is_refused_before_sending(self) -> None:
        client = http1.Client()
        async with Server(lambda n: OK) as (srv, origin):
            with pytest.raises(http1.LocalProtocolError):
                await client.post(origin, "/", [("host", "\uff11.example")], b"x", 5)
        assert srv.requests == []

    async def test_a_status_without_a_reason_and_599_are_answers(self) -> None:
        client = http1.Client()
        answers = [b"HTTP/1.1 204\r\n\r\n", b"HTTP/1.1 599 \r\ncontent-length: 0\r\n\r\n"]
        async with Server(lambda n: answers[n]) as (_, origin):
            first = await client.post(origin, "/", HEADERS, b"x", 5)
            second = await client.post(origin, "/", HEADERS, b"x", 5)
        await client.aclose()
        assert (first.status_code, second.status_code) == (204, 599)

    async def test_the_path_is_percent_encoded_where_needed(self) -> None:
        client = http1.Client()
        async with Server(lambda n: OK) as (srv, origin):
            await client.post(origin, "/a b/%41?q=é", HEADERS, b"x", 5)
        await client.aclose()
        assert srv.requests[0][0].startswith("POST /a%20b/%41?q=%C3%A9 HTTP/1.1\r\n")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for hook.test and other.test (not for 127.0.0.1)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=hook"),
            *("-addext", "subjectAltName=DNS:hook.test,DNS:other.test"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    return ctx


class TestTLS:
    async def test_connects_to_the_address_and_verifies_the_name_it_sends(
        self, certificate: tuple[Path, Path]
    ) -> None:
        tls = server_tls(certificate)
        names: list[str | None] = []
        tls.sni_callback = lambda _sock, name, _ctx: names.append(name)
        client = http1.Client(tls=ssl.create_default_context(cafile=str(certificate[0])))
        async with Server(lambda n: OK, tls=tls) as (srv, (scheme, ip, port, _)):
            for name in ("hook.test", "other.test", "hook.test"):
                r = await client.post((scheme, ip, port, name), "/", HEADERS, b"x", 5)
                assert r.status_code == 200
            # A TLS connection serves only the name it was verified for: one per name.
            assert srv.connections == 2
            assert names == ["hook.test", "other.test"]
            with pytest.raises(http1.ConnectError):  # the certificate is not for this name
                await client.post((scheme, ip, port, "evil.test"), "/", HEADERS, b"x", 5)
            with pytest.raises(http1.ConnectError):  # nor for the address
                await client.post((scheme, ip, port, ip), "/", HEADERS, b"x", 5)
            await client.aclose()
        assert len(srv.requests) == 3

    async def test_an_unknown_authority_is_a_connect_error(
        self, certificate: tuple[Path, Path]
    ) -> None:
        client = http1.Client()  # the default roots
        async with Server(lambda n: OK, tls=server_tls(certificate)) as (srv, origin):
            with pytest.raises(http1.ConnectError):
                await client.post((*origin[:3], "hook.test"), "/", HEADERS, b"x", 5)
        await client.aclose()
        assert srv.requests == []
