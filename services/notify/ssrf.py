"""SSRF guard for outbound webhooks.

Resolve the host once, refuse every address that is not globally routable (loopback, RFC 1918,
link-local including 169.254.169.254, CGNAT, benchmarking, multicast, reserved, IPv6 ULA and
link-local, and the IPv4-mapped / 6to4 / NAT64 spellings of those), and hand back the vetted address
so the request connects to exactly it — no second lookup a rebinding DNS server could answer
differently. Private targets are allowed only when the setting says so.

A public target may use only ports 80 and 443 (an allowed network's may use any port), and a
host must be written in ASCII (an internationalised name as its IDNA A-label, `xn--...`): the
name is what the Host header and TLS SNI carry. A refusal never says what a name resolved to,
nor whether it resolved at all — that would let a subscriber map the internal DNS.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_6TO4 = ipaddress.ip_network("2002::/16")
# Not global although `ipaddress.is_global` says so (in some Python versions), or special-purpose
# space no webhook receiver lives in.
_EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # CGNAT
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments (PCP/TURN anycast included)
    ipaddress.ip_network("192.88.99.0/24"),  # deprecated 6to4 relay anycast
    ipaddress.ip_network("fec0::/10"),  # deprecated site-local
    ipaddress.ip_network("3fff::/20"),  # documentation (RFC 9637)
]
# Ports a public target may use; an allowed network's targets may use any.
PUBLIC_PORTS = frozenset({80, 443})
# What every refusal of an address says, whatever the name resolved to (or did not).
NOT_PUBLIC = "the webhook target is not a public address"
# A host as the Host header and SNI can carry it: an ASCII name (A-labels) or an IP literal.
_HOST = re.compile(r"[a-z0-9._:%-]+")


class UnsafeTarget(ValueError):
    """The URL may not be called; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str  # path + query, as sent
    address: str  # the vetted IP to connect to


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _6TO4 and ip.sixtofour is not None:
        return ip.sixtofour
    return None


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return is_public(inner)
    if any(ip in net for net in _EXTRA_BLOCKED if net.version == ip.version):
        return False
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_reserved


def parse_url(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - parses the netloc, raising on a malformed one
    except ValueError as exc:
        raise UnsafeTarget(f"webhook URL is malformed: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("webhook URLs must be http or https")
    if not parts.hostname:
        raise UnsafeTarget("webhook URL has no host")
    if not parts.hostname.isascii() or not _HOST.fullmatch(parts.hostname):
        # A full-width or other non-ASCII spelling is mapped by IDNA to another name (even to
        # an IP address) when resolved, and could not be sent in the Host header as written.
        raise UnsafeTarget(
            "webhook URL host must be ASCII letters, digits, '.', '-' or an IP address "
            "(write an internationalised name as its IDNA A-label, xn--...)"
        )
    if parts.username or parts.password:
        raise UnsafeTarget("webhook URLs may not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeTarget("webhook URL has an invalid port") from exc
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        # Said as a private answer is: whether an internal name exists is internal too.
        raise UnsafeTarget(NOT_PUBLIC) from exc
    except ValueError as exc:  # UnicodeError is one
        # The IDNA codec refuses an empty or over-long label ("a..b", 64+ characters), and a
        # NUL in the name is a ValueError: a name no resolver can look up, not a server error.
        raise UnsafeTarget("the webhook URL's host is not a valid host name") from exc
    except OSError as exc:
        raise UnsafeTarget(NOT_PUBLIC) from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def vet(url: str, allow_private: bool, allow_networks: Sequence[str] = ()) -> Target:
    """Resolve and check `url`; every resolved address must be acceptable, and a public one
    must be reached on port 80 or 443."""
    scheme, host, port, path = parse_url(url)
    addresses = resolve(host, port)
    if not addresses:
        raise UnsafeTarget(NOT_PUBLIC)
    if allow_private:
        return Target(url, scheme, host, port, path, str(addresses[0]))
    allowed = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
    all_allowed = True
    for ip in addresses:
        if any(ip.version == n.version and ip in n for n in allowed):
            continue
        if not is_public(ip):
            raise UnsafeTarget(NOT_PUBLIC)  # never which address: that is an internal answer
        all_allowed = False
    if port not in PUBLIC_PORTS and not all_allowed:
        raise UnsafeTarget("webhook URLs to public addresses may use only ports 80 and 443")
    return Target(url, scheme, host, port, path, str(addresses[0]))


def is_literal(host: str) -> bool:
    """An IP address written in the URL: vetting it needs no lookup."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


VetKey = tuple[str, str, int, bool, tuple[str, ...]]


class VetCache:
    """Addresses that passed `vet`, per (scheme, host, port, policy), for `ttl` seconds.

    Only a success is kept, and what is kept is the vetted address itself: a delivery that uses
    an entry connects to an address that was checked, never to what the name resolves to now, so
    a rebinding DNS server cannot send it anywhere else. A name that resolves to a refused
    address is refused at every check, and checked again at most `ttl` after its last success.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[VetKey, tuple[float, str]] = {}

    @staticmethod
    def key(url: str, allow_private: bool, allow_networks: Sequence[str]) -> VetKey:
        scheme, host, port, _ = parse_url(url)
        return (scheme, host, port, allow_private, tuple(allow_networks))

    def get(self, url: str, key: VetKey, now: float | None = None) -> Target | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= (time.monotonic() if now is None else now):
            del self._entries[key]
            return None
        scheme, host, port, path = parse_url(url)
        return Target(url, scheme, host, port, path, entry[1])

    def put(self, key: VetKey, target: Target, ttl: float, now: float | None = None) -> None:
        if ttl <= 0:
            return
        now = time.monotonic() if now is None else now
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[key] = (now + ttl, target.address)
