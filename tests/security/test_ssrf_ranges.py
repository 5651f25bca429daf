"""SSRF guard at subscription time, through the real notify API: the special-purpose ranges
Python's `is_global` lets through, ports other than 80/443 on public addresses, hosts that are
not ASCII (full-width digits IDNA maps to an IP address), a refusal that names no address, and
production settings that would open the guard wholesale."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from services.notify.app import create_app
from services.notify.dispatcher import deliver
from shared.auth import Scope
from shared.settings import Settings
from tests.integration.notify.conftest import Kit

REFUSAL = "the webhook target is not a public address"

NEW_RANGES = [
    "http://[fec0::1]/hook",  # deprecated site-local
    "http://[fefe::1]/hook",
    "http://192.0.0.1/hook",  # IETF protocol assignments
    "http://192.0.0.9/hook",  # PCP anycast: is_global in Python
    "http://192.0.0.10/hook",  # TURN anycast: is_global in Python
    "http://192.0.0.254/hook",
    "http://192.88.99.1/hook",  # deprecated 6to4 relay anycast
    "http://[3fff::1]/hook",  # documentation (RFC 9637): is_global in Python 3.11
    "http://[3fff:fff::1]/hook",
    "http://[::ffff:192.0.0.9]/hook",
    "http://[2002:c000:a::1]/hook",  # 6to4 of 192.0.0.10
]


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """Production-like: no private network allowed."""
    return settings.model_copy(update={"webhook_allow_networks": []})


async def post(settings: Settings, serve: Any, key: str, url: str) -> Any:
    async with serve(create_app(settings)) as client:
        return await client.post(
            "/v1/subscriptions", json={"url": url}, headers={"authorization": f"Bearer {key}"}
        )


class TestNewRangesAreRefused:
    @pytest.mark.parametrize("url", NEW_RANGES)
    async def test_refused_with_422_naming_url(
        self, strict: Settings, serve: Any, make_key: Callable[..., str], url: str
    ) -> None:
        r = await post(strict, serve, make_key(Scope.SUBSCRIPTIONS_WRITE), url)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "url"
        assert r.json()["detail"] == REFUSAL

    def test_and_at_delivery_for_a_row_made_before(
        self, sessions: sessionmaker[Session], strict: Settings
    ) -> None:
        kit = Kit(sessions, strict)
        ids = [kit.subscribe(url)[0] for url in NEW_RANGES]
        kit.fanout(kit.add_event())
        assert deliver(sessions, strict) == len(NEW_RANGES)
        for sub_id in ids:
            (d,) = kit.deliveries(sub_id)
            (a,) = kit.attempts(d.id)
            assert (a.status_code, a.error) == (None, f"refused: {REFUSAL}")


class TestPorts:
    @pytest.mark.parametrize(
        "url",
        [
            "http://93.184.215.14:8080/hook",
            "http://93.184.215.14:22/hook",
            "https://93.184.215.14:6379/hook",
            "http://[2606:4700:4700::1111]:25/hook",
        ],
    )
    async def test_a_public_address_on_another_port_is_refused(
        self, strict: Settings, serve: Any, make_key: Callable[..., str], url: str
    ) -> None:
        r = await post(strict, serve, make_key(Scope.SUBSCRIPTIONS_WRITE), url)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "url"
        assert "only ports 80 and 443" in r.json()["detail"]

    @pytest.mark.parametrize("url", ["http://93.184.215.14/hook", "https://93.184.215.14:443/"])
    async def test_80_and_443_pass(
        self, strict: Settings, serve: Any, make_key: Callable[..., str], url: str
    ) -> None:
        r = await post(strict, serve, make_key(Scope.SUBSCRIPTIONS_WRITE), url)
        assert r.status_code == 201, r.text

    async def test_any_port_on_an_allowed_network(
        self, settings: Settings, serve: Any, make_key: Callable[..., str]
    ) -> None:
        r = await post(settings, serve, make_key(Scope.SUBSCRIPTIONS_WRITE), "http://127.0.0.1:1/")
        assert r.status_code == 201, r.text


class TestHostsNotInAscii:
    @pytest.mark.parametrize(
        "host",
        [
            "\uff11\uff12\uff17.\uff10.\uff10.\uff11",  # full-width 127.0.0.1 (allowed here!)
            "\uff19\uff13.\uff11\uff18\uff14.\uff12\uff11\uff15.\uff11\uff14",  # 93.184.215.14
            "b\u00fccher.example",
        ],
    )
    async def test_refused_with_422_naming_url(
        self, settings: Settings, serve: Any, make_key: Callable[..., str], host: str
    ) -> None:
        # Loopback is allowed in these settings: the full-width spelling of 127.0.0.1 passed the
        # vet (the resolver's IDNA maps it to 127.0.0.1) and then could not be sent as Host.
        r = await post(settings, serve, make_key(Scope.SUBSCRIPTIONS_WRITE), f"http://{host}/")
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "url"
        assert "ASCII" in r.json()["detail"]


class TestTheRefusalRevealsNoAddress:
    @pytest.mark.parametrize(
        "url",
        [
            "http://localhost/hook",  # resolves to 127.0.0.1 / ::1
            "http://localhost:8080/hook",
            "http://no-such-name.invalid/hook",  # resolves to nothing: said the same way
            "http://10.1.2.3/hook",
        ],
    )
    async def test_the_same_words_whatever_the_name_resolved_to(
        self, strict: Settings, serve: Any, make_key: Callable[..., str], url: str
    ) -> None:
        r = await post(strict, serve, make_key(Scope.SUBSCRIPTIONS_WRITE), url)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "url"
        detail = r.json()["detail"]
        assert detail == REFUSAL
        for leak in ("127.0.0.1", "::1", "resolve", "10.1.2.3"):
            assert leak not in detail


PRODUCTION = {
    "env": "production",
    "database_url": "postgresql://pw:Kq8vR2xN7pLm@db/x",
    "redis_url": "redis://:Zt4wQ9sB1yHc@r",
}


class TestProductionAllowList:
    @pytest.mark.parametrize(
        "networks",
        [
            ["0.0.0.0/0"],
            ["::/0"],
            ["10.0.0.0/8"],  # private, but /8 wide
            ["127.0.0.0/8"],
            ["8.8.8.0/24"],  # public space
            ["10.0.0.0/24", "172.0.0.0/10"],  # the second holds public space
            ["fc00::/7"],
            ["2606:4700::/32"],
            ["not-a-network"],
        ],
    )
    def test_wide_or_public_networks_are_refused(self, networks: list[str]) -> None:
        with pytest.raises(ValidationError, match="PIVOTWATCH_WEBHOOK_ALLOW_NETWORKS"):
            Settings(**PRODUCTION, webhook_allow_networks=networks)

    @pytest.mark.parametrize(
        "networks", [[], ["10.1.0.0/16"], ["172.16.4.0/24", "fd00:1::/64"], ["127.0.0.1/32"]]
    )
    def test_narrow_private_networks_pass(self, networks: list[str]) -> None:
        allowed = Settings(**PRODUCTION, webhook_allow_networks=networks)
        assert allowed.webhook_allow_networks == networks

    def test_development_keeps_its_loopback_allowance(self) -> None:
        assert Settings(webhook_allow_networks=["127.0.0.0/8"]).webhook_allow_networks
