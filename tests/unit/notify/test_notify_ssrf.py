"""The SSRF guard: which addresses are public, and what `vet` refuses or lets through."""

from __future__ import annotations

import ipaddress

import pytest

from services.notify.ssrf import NOT_PUBLIC as REFUSAL
from services.notify.ssrf import UnsafeTarget, is_public, parse_url, vet

NOT_PUBLIC = [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "198.18.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 of 169.254.169.254
    "fec0::1",  # deprecated site-local (is_global in Python 3.11)
    "feff::1",
    "192.0.0.1",  # IETF protocol assignments
    "192.0.0.9",  # PCP anycast (is_global)
    "192.0.0.10",  # TURN anycast (is_global)
    "192.0.0.255",
    "192.88.99.1",  # deprecated 6to4 relay anycast
    "3fff::1",  # documentation, RFC 9637 (is_global in Python 3.11)
    "3fff:fff:ffff::1",
    "2002:c000:9::1",  # 6to4 of 192.0.0.9
    "::ffff:192.0.0.9",
    "5f00::1",  # SRv6 SIDs (reserved)
    "2001:db8::1",
]
PUBLIC = ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1", "2002:101:101::1"]


class TestIsPublic:
    @pytest.mark.parametrize("address", NOT_PUBLIC)
    def test_non_global_addresses_are_refused(self, address: str) -> None:
        assert is_public(ipaddress.ip_address(address)) is False

    @pytest.mark.parametrize("address", PUBLIC)
    def test_global_addresses_pass(self, address: str) -> None:
        assert is_public(ipaddress.ip_address(address)) is True


class TestVet:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.64.0.1/",
            "http://[2002:7f00:1::1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://localhost/",
        ],
    )
    def test_refused_without_an_allowance(self, url: str) -> None:
        with pytest.raises(UnsafeTarget, match="not a public address"):
            vet(url, allow_private=False)

    def test_an_allowed_network_lets_loopback_through_and_pins_the_address(self) -> None:
        t = vet("http://127.0.0.1:9000/hook?x=1", False, ["127.0.0.0/8"])
        assert (t.scheme, t.host, t.port, t.path, t.address) == (
            "http",
            "127.0.0.1",
            9000,
            "/hook?x=1",
            "127.0.0.1",
        )

    def test_an_allowance_for_v4_loopback_does_not_cover_its_v6_mapped_spelling(self) -> None:
        with pytest.raises(UnsafeTarget):
            vet("http://[::ffff:127.0.0.1]/", False, ["127.0.0.0/8"])

    def test_the_allowance_is_narrow(self) -> None:
        with pytest.raises(UnsafeTarget):
            vet("http://10.0.0.1/", False, ["127.0.0.0/8"])

    def test_a_public_literal_passes(self) -> None:
        assert vet("https://93.184.215.14/x", False).port == 443

    def test_an_unresolvable_name_is_refused_as_a_private_one_is(self) -> None:
        # Saying "cannot resolve" apart from "not public" would tell which internal names exist.
        with pytest.raises(UnsafeTarget) as refused:
            vet("http://no-such-host.invalid/", False)
        assert str(refused.value) == REFUSAL

    @pytest.mark.parametrize("url", ["http://localhost/", "http://127.0.0.1/", "http://[::1]/"])
    def test_the_refusal_names_no_address(self, url: str) -> None:
        with pytest.raises(UnsafeTarget) as refused:
            vet(url, False)
        assert str(refused.value) == REFUSAL
        assert "127.0.0.1" not in str(refused.value) and "::1" not in str(refused.value)


class TestPorts:
    @pytest.mark.parametrize(
        "url", ["http://93.184.215.14:22/", "https://93.184.215.14:8443/", "http://1.1.1.1:6379/"]
    )
    def test_a_public_target_on_another_port_is_refused(self, url: str) -> None:
        with pytest.raises(UnsafeTarget, match="only ports 80 and 443"):
            vet(url, False)

    @pytest.mark.parametrize(
        "url", ["http://93.184.215.14/", "http://93.184.215.14:443/", "https://1.1.1.1:80/x"]
    )
    def test_80_and_443_pass(self, url: str) -> None:
        assert vet(url, False).address in ("93.184.215.14", "1.1.1.1")

    def test_any_port_on_an_allowed_network(self) -> None:
        assert vet("http://127.0.0.1:6379/", False, ["127.0.0.0/8"]).port == 6379
        assert vet("http://93.184.215.14:8080/", False, ["93.184.215.0/24"]).port == 8080

    def test_a_private_target_on_another_port_still_says_only_not_public(self) -> None:
        with pytest.raises(UnsafeTarget) as refused:
            vet("http://10.0.0.1:6379/", False)
        assert str(refused.value) == REFUSAL


class TestHosts:
    @pytest.mark.parametrize(
        "url",
        [
            "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # full-width 127.0.0.1
            "http://\uff19\uff13.184.215.14/",  # full-width digits of a public address
            "http://b\u00fccher.example/",
            "http://exa\u2024mple.com/",  # one-dot leader
            "http://a b.example/",
        ],
    )
    def test_a_host_not_in_ascii_is_refused_at_parse(self, url: str) -> None:
        with pytest.raises(UnsafeTarget, match="ASCII"):
            parse_url(url)

    def test_an_a_label_passes(self) -> None:
        assert parse_url("https://xn--bcher-kva.example/x")[1] == "xn--bcher-kva.example"


class TestParseUrl:
    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("ftp://example.com/", "http or https"),
            ("http:///nohost", "no host"),
            ("http://u:p@example.com/", "credentials"),
            ("http://example.com:99999/", "invalid port"),
            ("http://[::1/", "malformed"),
        ],
    )
    def test_bad_urls_say_why(self, url: str, reason: str) -> None:
        with pytest.raises(UnsafeTarget, match=reason):
            parse_url(url)
