"""Tracing (OpenTelemetry): off unless `PIVOTWATCH_OTEL_ENDPOINT` is set and the `otel` extra is
installed. Off, every helper here returns at once and nothing of the SDK is imported.

On, each process exports its spans over OTLP/HTTP. A trace begins at an HTTP request (FastAPI's
own server span) and its W3C `traceparent` travels with the work: in the ingest log entry (`tp`),
in the Celery task's headers, and in each delivery's row, so a retry sent by beat hours later is
still a span of the event's trace. Work done for several events at once (a chunk) continues one
trace and links to every event's context.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Literal

from shared.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("pivotwatch.tracing")

# The stream entry's field that carries the context it was written in (services/ingest).
ENTRY_FIELD = "tp"
Kind = Literal["internal", "producer", "consumer", "client", "server"]

_tracer: Tracer | None = None  # None: tracing is off in this process
_provider: TracerProvider | None = None
_OFF: AbstractContextManager[None] = nullcontext()


def enabled() -> bool:
    return _tracer is not None


def configure(service: str, settings: Settings, *, celery: bool = False) -> bool:
    """Export this process's spans to `settings.otel_endpoint` (OTLP/HTTP) as service
    `pivotwatch-<service>`, with Redis calls (and, in a Celery pool process, its tasks) traced.
    Returns whether tracing is on.

    Call once per process, at its start (a Celery pool process: after the fork)."""
    if not settings.otel_endpoint or _tracer is not None:
        return _tracer is not None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("PIVOTWATCH_OTEL_ENDPOINT is set but the otel extra is not installed")
        return False
    endpoint = settings.otel_endpoint.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"  # a collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"pivotwatch-{service}"}), sampler=sampler()
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    if celery:
        # Only where the tasks are registered: the instrumentation leaves a publish span open
        # (and its context attached) when it cannot find the task sent (`send_task` by name).
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    use(provider)
    return True


def use(provider: TracerProvider | None) -> None:
    """Make the helpers below trace to `provider` (None: off again). Tests use it directly."""
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer("pivotwatch") if provider is not None else None


def flush() -> None:
    """Export what is buffered (a Celery pool process about to exit)."""
    if _provider is not None:
        _provider.force_flush(5000)


def sampler() -> Any:
    """Which traces begin: at an HTTP request, or at a span continuing several events (links).
    A call with no parent otherwise (the relay polling the log, heartbeats, beat's ticks) is
    housekeeping and begins none; under a sampled span everything is kept."""
    from opentelemetry.sdk.trace.sampling import (
        Decision,
        ParentBased,
        Sampler,
        SamplingResult,
    )
    from opentelemetry.trace import SpanKind

    class Roots(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Sequence[Any] | None = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            keep = kind is SpanKind.SERVER or bool(links)
            return SamplingResult(Decision.RECORD_AND_SAMPLE if keep else Decision.DROP)

        def get_description(self) -> str:
            return "PivotwatchRoots"

    return ParentBased(root=Roots())


def traceparent() -> str:
    """The current span's W3C traceparent, or "" (tracing off, or no span)."""
    if _tracer is None:
        return ""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent", "")


def headers(extra: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """Celery message headers: `extra`, and the current span's context when tracing."""
    tp = traceparent()
    if not tp:
        return dict(extra) if extra else None
    return {**(extra or {}), "traceparent": tp}


def span(
    name: str,
    *,
    kind: Kind = "internal",
    parent: str | None = None,
    follows: Iterable[str] = (),
    links: Iterable[str] = (),
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> AbstractContextManager[Span | None]:
    """A span around a block (yields it, or None when tracing is off).

    `parent`: a traceparent to continue instead of the current span. `follows`: the contexts of
    the messages the block handles: one (however often) is continued; several start a new
    trace linked to each (none: the current span). `links`: contexts linked in any case.
    Empty strings among them are skipped."""
    if _tracer is None:
        return _OFF
    return _span(_tracer, name, kind, parent, follows, links, attributes)


@contextmanager
def _span(
    tracer: Tracer,
    name: str,
    kind: Kind,
    parent: str | None,
    follows: Iterable[str],
    links: Iterable[str],
    attributes: Mapping[str, str | int | float | bool] | None,
) -> Iterator[Span]:
    from opentelemetry import context, trace
    from opentelemetry.trace import Link, SpanKind

    ctx = None
    followed = _contexts(follows)
    if parent:
        ctx = _extract(parent)
    elif len(followed) == 1:
        ctx = _extract(followed[0])
    elif len(followed) > 1:
        ctx = context.Context()  # a root: several traces meet here
    linked = _contexts([*links, *(followed if len(followed) > 1 else ())])
    span_links = [Link(trace.get_current_span(_extract(tp)).get_span_context()) for tp in linked]
    with tracer.start_as_current_span(
        name,
        context=ctx,
        kind=SpanKind[kind.upper()],
        attributes=attributes,
        links=[link for link in span_links if link.context.is_valid],
    ) as current:
        yield current


def _contexts(traceparents: Iterable[str]) -> list[str]:
    """The distinct, non-empty traceparents, in order."""
    return list(dict.fromkeys(tp for tp in traceparents if tp))


def _extract(tp: str) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": tp})
