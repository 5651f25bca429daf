"""Operating it, on the real `pivotwatch up`: one event's trace from ingest to each webhook attempt,
and every metric deploy/ names exported by the running processes.

Each process of the stack exports its own spans over OTLP/HTTP (the SDK's exporter, as in
production) to a receiver this test runs, which decodes them with the protocol's own messages;
the workers' metrics are scraped from their main processes, which sum their pool processes'.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from prometheus_client.parser import text_string_to_metric_families

from pivotwatch.embedded import free_port
from tests.e2e.conftest import Stack, start_stack
from tests.fixtures.receiver import Receiver, in_order
from tests.fixtures.waiting import wait_until
from tests.unit.test_deploy import metric_names

pytestmark = pytest.mark.e2e

SERVER, CLIENT = SpanProto.SPAN_KIND_SERVER, SpanProto.SPAN_KIND_CLIENT


def _value(v: AnyValue) -> Any:
    return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent: str
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]


@dataclass
class OtlpReceiver:
    """A collector's OTLP/HTTP traces endpoint, keeping what it is sent."""

    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = ExportTraceServiceRequest.FromString(body)
                got = []
                for rs in request.resource_spans:
                    resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            got.append(
                                Span(
                                    str(resource.get("service.name")),
                                    s.name,
                                    s.kind,
                                    s.trace_id.hex(),
                                    s.span_id.hex(),
                                    s.parent_span_id.hex(),
                                    {a.key: _value(a.value) for a in s.attributes},
                                    tuple((k.trace_id.hex(), k.span_id.hex()) for k in s.links),
                                )
                            )
                with receiver.lock:
                    receiver.spans += got
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self) -> list[Span]:
        with self.lock:
            return list(self.spans)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Operating:
    stack: Stack
    otlp: OtlpReceiver
    hooks: Receiver
    event_id: str
    scrape: dict[str, str]  # process -> its /metrics URL


@pytest.fixture(scope="module")
def operating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operating]:
    otlp, hooks = OtlpReceiver(), Receiver()
    hooks.respond = in_order(500)  # the first attempt fails: its retry is sent by beat's dispatcher
    ports = {name: free_port() for name in ("relay", "enrich", "notify")}
    home: Path = tmp_path_factory.mktemp("operating") / "pw"
    stack = start_stack(
        home,
        {
            "PIVOTWATCH_OTEL_ENDPOINT": otlp.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export every 0.1 s, not 5 s
            **{f"PIVOTWATCH_{n.upper()}_METRICS_PORT": str(p) for n, p in ports.items()},
        },
        seed=False,
    )
    try:
        auth = {"authorization": f"Bearer {stack.key}"}
        sub = httpx.post(
            f"{stack.notify}/v1/subscriptions",
            headers=auth,
            json={"url": hooks.url, "filter": {"companies": ["acme-ai"]}},
        )
        assert sub.status_code == 201, sub.text
        event = {
            "specversion": "1.0",
            "id": "traced-1",
            "source": "/tests/e2e/operating",
            "type": "dev.pivotwatch.strategy.reported",
            "data": {
                "company": "Acme AI",
                "occurred": "2026-04",
                "title": "Acme AI opens its model weights",
                "sources": [{"url": "https://example.org/acme-weights"}],
            },
        }
        ce = {**auth, "content-type": "application/cloudevents+json"}
        r = httpx.post(f"{stack.ingest}/v1/events", content=orjson.dumps(event), headers=ce)
        assert r.status_code == 202, r.text
        bad = {**event, "id": "traced-bad", "data": {"title": "no company, no date"}}
        assert httpx.post(f"{stack.ingest}/v1/events", json=bad, headers=ce).status_code == 422
        hooks.wait_for(2, timeout=60)  # the failed attempt and its retry
        scrape = {
            "ingest": f"{stack.ingest}/metrics",
            "timeline": f"{stack.timeline}/metrics",
            "notify": f"{stack.notify}/metrics",
            **{
                name if name == "relay" else f"{name}-worker": f"http://127.0.0.1:{port}/metrics"
                for name, port in ports.items()
            },
        }
        yield Operating(stack, otlp, hooks, r.json()["id"], scrape)
    finally:
        code = stack.stop()
        otlp.close()
        hooks.close()
    assert code == 0, "\n".join(stack.output)


class TestTrace:
    def test_ingest_to_every_webhook_attempt_is_one_trace(self, operating: Operating) -> None:
        def attempts() -> list[Span]:
            found = [s for s in operating.otlp.snapshot() if s.name == "webhook.attempt"]
            return found if len(found) >= 2 else []

        wait_until(
            attempts, 60, 0.2, "both attempts' spans reaching the collector did not happen in 60 s"
        )
        spans = operating.otlp.snapshot()
        by_id = {s.span_id: s for s in spans}

        def one(name: str, service: str, **attributes: Any) -> Span:
            found = [
                s
                for s in spans
                if s.name == name
                and s.service == service
                and all(s.attributes.get(k) == v for k, v in attributes.items())
            ]
            assert len(found) == 1, (name, service, [(s.name, s.service) for s in spans])
            return found[0]

        def ancestors(span: Span) -> list[Span]:
            out = []
            while span.parent in by_id:
                span = by_id[span.parent]
                out.append(span)
            return out

        ingest = one("POST /v1/events", "pivotwatch-ingest", **{"http.response.status_code": 202})
        assert ingest.kind == SERVER
        relay = one("relay.publish", "pivotwatch-relay")
        chunk = one("enrich.store_chunk", "pivotwatch-enrich-worker")
        store = one("enrich.store", "pivotwatch-enrich-worker")
        fanout = one("notify.fanout", "pivotwatch-notify-worker")
        sent = sorted(attempts(), key=lambda s: s.attributes["pivotwatch.attempt"])

        trace = ingest.trace_id
        for span in (relay, chunk, store, fanout, *sent):
            assert span.trace_id == trace, span.name
        assert ingest in ancestors(relay)  # through FastAPI's own endpoint span
        assert relay in ancestors(chunk)  # through Celery's run span, from the task's headers
        assert any(by_id[s].service == "pivotwatch-ingest" for t, s in chunk.links if t == trace)
        assert store.parent == chunk.span_id
        assert chunk in ancestors(fanout)
        # Both attempts are the fan-out's children, the retry sent by beat's dispatcher too.
        assert [s.parent for s in sent] == [fanout.span_id, fanout.span_id]
        assert [s.kind for s in sent] == [CLIENT, CLIENT]
        assert [s.attributes["http.response.status_code"] for s in sent] == [500, 200]
        assert [s.attributes["pivotwatch.outcome"] for s in sent] == ["http_error", "succeeded"]
        # Redis calls made for the event are spans of it (its XADD, under the request).
        assert any(
            s.service == "pivotwatch-ingest" and ingest in ancestors(s) and s.kind == CLIENT
            for s in spans
        )

    def test_only_requests_and_multi_event_work_begin_traces(self, operating: Operating) -> None:
        # The relay polls the log 5 times a second and the workers beat: none of that is a trace.
        roots = [s for s in operating.otlp.snapshot() if not s.parent]
        assert roots
        assert all(s.kind == SERVER or s.links for s in roots), {(s.service, s.name) for s in roots}
        assert not {s.attributes.get("url.path") for s in roots} & {"/metrics", "/readyz"}


class TestMetrics:
    def test_every_metric_deploy_names_is_exported(self, operating: Operating) -> None:
        exported: dict[str, set[str]] = {}
        for process, url in operating.scrape.items():
            text = httpx.get(url, timeout=10).text
            exported[process] = {
                sample.name
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            }
        everywhere = set().union(*exported.values())
        missing = metric_names() - everywhere
        assert not missing, f"named in deploy/ but exported by no process: {sorted(missing)}"

    def test_workers_serve_the_sum_of_their_pool_processes(self, operating: Operating) -> None:
        def samples(process: str, name: str) -> dict[str, float]:
            text = httpx.get(operating.scrape[process], timeout=10).text
            return {
                ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == name
            }

        # Recorded in pool processes, served by each worker's main process.
        enrich = samples("enrich-worker", "pivotwatch_pipeline_hop_seconds_count")
        assert enrich["hop=queue"] >= 1 and enrich["hop=store"] >= 1
        assert enrich["hop=announce"] >= 1 and enrich["hop=visible"] >= 1
        assert samples("enrich-worker", "pivotwatch_events_stored_total")["outcome=created"] >= 1
        attempts = samples("notify-worker", "pivotwatch_webhook_attempts_total")
        assert attempts["outcome=http_error"] >= 1 and attempts["outcome=succeeded"] >= 1
        assert samples("notify-worker", "pivotwatch_pipeline_hop_seconds_count")["hop=outbox"] >= 1
        relay = samples("relay", "pivotwatch_pipeline_hop_seconds_count")
        assert relay["hop=log"] >= 1 and relay["hop=relay"] >= 1
        assert samples("relay", "pivotwatch_relay_oldest_entry_seconds") == {"": 0.0}
