"""shared/tracing.py with the SDK's in-memory exporter: how contexts are continued and linked,
which traces begin, and that off it does nothing and imports nothing of the SDK."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import tracing
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.sampler())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)
        provider.shutdown()


def _tp(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}"


def _sampled(traceparent: str) -> bool:
    return bool(int(traceparent.rpartition("-")[2], 16) & 1)


def _by_name(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


class TestOff:
    def test_every_helper_is_a_no_op(self) -> None:
        assert not tracing.enabled()
        assert tracing.traceparent() == ""
        assert tracing.headers() is None
        assert tracing.headers({"pw_published_at": 1.0}) == {"pw_published_at": 1.0}
        with tracing.span("x", parent="00-" + "1" * 32 + "-" + "2" * 16 + "-01") as span:
            assert span is None

    def test_no_endpoint_configures_nothing(self) -> None:
        assert not tracing.configure("ingest", Settings())
        assert not tracing.enabled()

    def test_nothing_of_the_sdk_is_imported(self) -> None:
        # A process of each kind, as it starts with PIVOTWATCH_OTEL_ENDPOINT unset. (Not
        # opentelemetry.sdk.metrics: redis-py imports it by itself when the SDK is installed, for
        # metrics of its own that stay off unless initialised.)
        code = (
            "import sys, shared.tracing, shared.celery_app, services.ingest.app, "
            "services.enrich.tasks, services.notify.tasks\n"
            "from shared.settings import get_settings\n"
            "assert not shared.tracing.configure('ingest', get_settings())\n"
            "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk.trace', "
            "'opentelemetry.instrumentation', 'opentelemetry.exporter'))]\n"
            "assert not loaded, loaded\n"
        )
        env = {"PATH": "/usr/bin:/bin", "PIVOTWATCH_ENV": "test"}
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)


class TestContexts:
    def test_one_message_is_continued(self, spans: InMemorySpanExporter) -> None:
        with tracing.span("request", kind="server"):
            tp = tracing.traceparent()
        with tracing.span("relay.publish", kind="producer", follows=[tp, tp, ""]):
            pass
        request, publish = _by_name(spans, "request"), _by_name(spans, "relay.publish")
        assert publish.parent is not None and publish.parent.span_id == request.context.span_id
        assert publish.context.trace_id == request.context.trace_id
        assert publish.links == ()

    def test_several_messages_begin_a_trace_linked_to_each(
        self, spans: InMemorySpanExporter
    ) -> None:
        tps = []
        for name in ("a", "b"):
            with tracing.span(name, kind="server"):
                tps.append(tracing.traceparent())
        with tracing.span("relay.publish", kind="producer", follows=tps):
            pass
        a, b, publish = (_by_name(spans, n) for n in ("a", "b", "relay.publish"))
        assert publish.parent is None
        assert publish.context.trace_id not in (a.context.trace_id, b.context.trace_id)
        assert [link.context.span_id for link in publish.links] == [
            a.context.span_id,
            b.context.span_id,
        ]

    def test_links_keep_the_current_parent(self, spans: InMemorySpanExporter) -> None:
        with tracing.span("event", kind="server"):
            event = tracing.traceparent()
        with tracing.span("run", kind="server"), tracing.span("chunk", links=[event, ""]):
            headers = tracing.headers({"pw_published_at": 2.0})
        run, chunk, ev = (_by_name(spans, n) for n in ("run", "chunk", "event"))
        assert chunk.parent is not None and chunk.parent.span_id == run.context.span_id
        assert [link.context.span_id for link in chunk.links] == [ev.context.span_id]
        assert headers is not None and headers["pw_published_at"] == 2.0
        assert headers["traceparent"].startswith(_tp(chunk))

    def test_an_explicit_parent_wins_over_the_current_span(
        self, spans: InMemorySpanExporter
    ) -> None:
        with tracing.span("fanout", kind="server"):
            stored = tracing.traceparent()
        # Hours later, in a dispatcher pass of its own.
        with (
            tracing.span("dispatch", kind="server"),
            tracing.span("webhook.attempt", kind="client", parent=stored) as span,
        ):
            assert span is not None
        attempt, fanout = _by_name(spans, "webhook.attempt"), _by_name(spans, "fanout")
        assert attempt.parent is not None and attempt.parent.span_id == fanout.context.span_id
        assert attempt.kind is SpanKind.CLIENT


class TestWhichTracesBegin:
    def test_housekeeping_begins_none(self, spans: InMemorySpanExporter) -> None:
        with tracing.span("XREADGROUP", kind="client"):
            assert not _sampled(tracing.traceparent())  # propagated, not sampled
        with tracing.span("beat tick", kind="producer"):
            pass
        assert spans.get_finished_spans() == ()

    def test_under_a_sampled_span_everything_is_kept(self, spans: InMemorySpanExporter) -> None:
        with tracing.span("POST /v1/events", kind="server"), tracing.span("EVALSHA", kind="client"):
            pass
        assert {s.name for s in spans.get_finished_spans()} == {"POST /v1/events", "EVALSHA"}
