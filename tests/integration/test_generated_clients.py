"""Clients generated from the services' own OpenAPI documents by an outside generator
(openapi-python-client, pinned in the dev extra) work against the real services: an event posted
in both JSON modes is stored and read back from the timeline, a subscription is created and
listed, and errors come back parsed in the one error shape.

Each service runs as a real HTTP server (uvicorn in a thread) on the suite's PostgreSQL and Redis;
its document is fetched from /openapi.json as a client's author would, and the worker's chunk
function stores what ingest accepted, as the relay would hand it over."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from services.enrich.relay import entries_from_stream
from services.enrich.service import process_chunk
from services.ingest.app import create_app as ingest_app
from services.notify.app import create_app as notify_app
from services.timeline.app import create_app as timeline_app
from shared.auth import Scope
from shared.redis_keys import INGEST_STREAM
from shared.settings import Settings
from tests.fixtures.server import serving

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
APPS = {"ingest": ingest_app, "timeline": timeline_app, "notify": notify_app}
# The generator formats its output with ruff when told to; an import needs no formatting.
CONFIG = "post_hooks: []\n"


class Generated:
    """One service's generated package (`pw_<service>_client`), and the URL it talks to."""

    def __init__(self, package: str, url: str) -> None:
        self.package = package
        self.url = url
        self.opened: list[Any] = []

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{name}")

    def client(self, key: str | None = None) -> Any:
        clients = self.module("client")
        made = (
            clients.Client(base_url=self.url, raise_on_unexpected_status=True)
            if key is None
            else clients.AuthenticatedClient(
                base_url=self.url, token=key, raise_on_unexpected_status=True
            )
        )
        self.opened.append(made)
        return made

    def close(self) -> None:
        while self.opened:
            self.opened.pop().__exit__(None, None, None)  # closes its httpx client


def generate(spec: Path, out: Path) -> None:
    run = subprocess.run(
        [
            GENERATOR,
            "generate",
            "--path",
            spec,
            "--output-path",
            out,
            "--meta",
            "none",
            "--config",
            spec.parent / "config.yaml",
            "--fail-on-warning",  # a part of the document it could not use fails the test
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"{spec.name}:\n{run.stdout}\n{run.stderr}"


@pytest.fixture(scope="module")
def services(
    migrated: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Generated]]:
    """The three services listening on 127.0.0.1, each with the client generated from its
    served document."""
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: `make install` installs the dev extra")
    settings = Settings(
        env="test",
        database_url=migrated.database_url,
        redis_url=migrated.redis_url,
        webhook_allow_networks=["127.0.0.0/8"],
        log_json=True,
    )
    root = tmp_path_factory.mktemp("generated")
    (root / "config.yaml").write_text(CONFIG)
    packages = {name: f"pw_{name}_client" for name in APPS}
    with ExitStack() as running:
        urls = {name: running.enter_context(serving(make(settings))) for name, make in APPS.items()}
        running.callback(shutil.rmtree, root, ignore_errors=True)
        running.callback(_forget, root, set(packages.values()))
        for name, url in urls.items():
            spec = root / f"{name}.json"
            spec.write_bytes(httpx.get(f"{url}/openapi.json", timeout=10).content)
            generate(spec, root / packages[name])
        sys.path.insert(0, str(root))
        yield {name: Generated(packages[name], urls[name]) for name in APPS}


def _forget(root: Path, packages: set[str]) -> None:
    """Take the generated packages off the import path and out of the module cache."""
    if str(root) in sys.path:
        sys.path.remove(str(root))
    for module in [m for m in sys.modules if m.split(".")[0] in packages]:
        del sys.modules[module]


@pytest.fixture
def generated(services: dict[str, Generated]) -> Iterator[dict[str, Generated]]:
    """The generated clients, with whatever connections a test opened closed after it."""
    yield services
    for service in services.values():
        service.close()


def store_waiting(sessions: sessionmaker[Session], redis_client: Redis) -> None:
    """What the relay and an enrich worker do with the ingest log, in this process (the fan-out
    it would send to the notify workers is dropped: no delivery is under test here)."""
    entries = entries_from_stream(redis_client.xrange(INGEST_STREAM))
    process_chunk(sessions, redis_client, entries, lambda outbox_ids: None)


def _strategy(models: ModuleType, **over: Any) -> Any:
    fields: dict[str, Any] = {
        "company": "OpenAI LP",
        "occurred": "2019-03-11",
        "title": "OpenAI LP created as a capped-profit company",
        "sources": [models.Source(url="https://openai.com/index/openai-lp/", publisher="OpenAI")],
    }
    return models.StrategyEvent(**{**fields, **over})


class TestTheGeneratedClients:
    def test_post_events_subscribe_and_read_the_timeline(
        self,
        generated: dict[str, Generated],
        make_key: Callable[..., str],
        sessions: sessionmaker[Session],
        redis_client: Redis,
    ) -> None:
        ingest, timeline, notify = generated["ingest"], generated["timeline"], generated["notify"]
        writer = ingest.client(make_key(Scope.EVENTS_WRITE))
        im = ingest.module("models")
        post_event = ingest.module("api.events.post_event")

        # Structured mode: the whole CloudEvent, sent as application/cloudevents+json.
        structured = im.CloudEvent(
            specversion="1.0",
            id="openai-lp-2019",
            source="https://reporter.example/generated",
            type_="dev.pivotwatch.strategy.reported",
            data=_strategy(im),
        )
        first = post_event.sync(client=writer, body=structured)
        assert isinstance(first, im.EventResult), first
        assert first.status.value == "accepted" and first.duplicate is False
        # Plain mode: the StrategyEvent alone, as application/json.
        plain = _strategy(
            im,
            occurred="2025-08-05",
            title="gpt-oss-120b and gpt-oss-20b released as open weights under Apache 2.0",
            sources=[im.Source(url="https://openai.com/index/introducing-gpt-oss/")],
        )
        second = post_event.sync(client=writer, body=plain, idempotency_key="gpt-oss-2025")
        assert isinstance(second, im.EventResult), second
        again = post_event.sync(client=writer, body=structured)
        assert again.duplicate is True and again.id == first.id, again
        again = post_event.sync(client=writer, body=plain, idempotency_key="gpt-oss-2025")
        assert again.duplicate is True and again.id == second.id, again

        store_waiting(sessions, redis_client)
        status = ingest.module("api.events.get_event_status").sync(first.id, client=writer)
        assert isinstance(status, im.EventStatus) and status.status.value == "stored", status

        # The timeline is public: no key.
        reader = timeline.client()
        tm = timeline.module("models")
        page = timeline.module("api.timeline.get_company_timeline").sync("openai", client=reader)
        assert isinstance(page, tm.TimelinePage), page
        assert [e.occurred for e in page.events] == ["2019-03-11", "2025-08-05"]
        assert page.events[0].title == structured.data.title
        assert page.events[0].sources[0].additional_properties["url"].startswith("https://")
        assert page.next_cursor is None
        merged = timeline.module("api.timeline.get_timeline").sync(
            client=reader, companies="openai"
        )
        assert [e.id for e in merged.events] == [e.id for e in page.events]
        event = timeline.module("api.events.get_event").sync(first.id, client=reader)
        assert isinstance(event, tm.EventDetail) and event.company == "openai"
        companies = timeline.module("api.companies.list_companies").sync(client=reader)
        assert [(c.slug, c.events) for c in companies.companies] == [("openai", 2)]

        manager = notify.client(make_key(Scope.SUBSCRIPTIONS_WRITE))
        nm = notify.module("models")
        created = notify.module("api.subscriptions.create_subscription").sync(
            client=manager,
            body=nm.SubscriptionIn(
                url="http://127.0.0.1:9/hook", filter_=nm.Filter(companies=["openai"])
            ),
        )
        assert isinstance(created, nm.SubscriptionCreated), created
        assert created.secret.startswith("whsec_")
        listed = notify.module("api.subscriptions.list_subscriptions").sync(client=manager)
        assert [(s.id, s.filter_.companies) for s in listed] == [(created.id, ["openai"])]

    def test_errors_come_back_in_the_one_shape(
        self, generated: dict[str, Generated], make_key: Callable[..., str]
    ) -> None:
        ingest, notify = generated["ingest"], generated["notify"]
        im = ingest.module("models")
        post_event = ingest.module("api.events.post_event")
        bad = post_event.sync(
            client=ingest.client(make_key(Scope.EVENTS_WRITE)),
            body=_strategy(im, occurred="2019-13"),
        )
        assert isinstance(bad, im.ErrorBody), bad
        assert (bad.error, bad.field) == ("invalid", "data.occurred")

        # A key of another scope, and no key at all (the generated Client sends none).
        nm = notify.module("models")
        create = notify.module("api.subscriptions.create_subscription")
        body = nm.SubscriptionIn(url="http://127.0.0.1:9/hook")
        wrong = create.sync(client=notify.client(make_key(Scope.EVENTS_WRITE)), body=body)
        assert isinstance(wrong, nm.ErrorBody) and wrong.error == "forbidden", wrong
        anonymous = create.sync(client=notify.client(), body=body)
        assert isinstance(anonymous, nm.ErrorBody) and anonymous.error == "unauthorized"
        invalid = create.sync(
            client=notify.client(make_key(Scope.SUBSCRIPTIONS_WRITE)),
            body=nm.SubscriptionIn(url="ftp://127.0.0.1/hook"),
        )
        assert isinstance(invalid, nm.ErrorBody) and invalid.field == "url", invalid
