"""OpenTelemetry tracing: off unless the standard OTEL_* variables turn it on, set up in one place.

`configure_tracing()` runs once per process that serves or works: the WSGI entry (`wsgi.py`, which
gunicorn imports in each worker after it forks: the span processor's export thread would not
survive a fork) and `simrenew worker`. It is on when `OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` names a collector, unless `OTEL_SDK_DISABLED=true` or
`OTEL_TRACES_EXPORTER=none`. The SDK reads the rest itself (`OTEL_TRACES_SAMPLER`,
`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`, `OTEL_RESOURCE_ATTRIBUTES`); the service is
`OTEL_SERVICE_NAME`, "simrenew" when unset.

On, it instruments Django (a span per request), psycopg (a span per query) and httpx (a span per
outbound call: SM-DP+, carriers, webhooks), and our own code adds spans where a library cannot
see: the gateway charge (`payments.charging.call_gateway`: Stripe's and PayPal's SDKs call out
through `requests`, which is not instrumented, so that the exporter's own posts are not traced)
and each outbox delivery, continued from the `traceparent` stored on its event
(`notifications.delivery`).

Off (the default), nothing of OpenTelemetry is imported: `span`, `continued_span`,
`current_traceparent`, `inject` and `current_ids` check one module global and return.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Span, Tracer

DEFAULT_SERVICE_NAME = "simrenew"
# Attribute values are what a span records; None is left out (OpenTelemetry refuses it).
AttributeValue = str | int | float | bool

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
_lock = threading.Lock()


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the OTEL_* variables ask for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def is_on() -> bool:
    return _tracer is not None


def configure_tracing(*, processor: SpanProcessor | None = None) -> bool:
    """Turn tracing on if the environment asks for it (or `processor` is given: tests pass one with
    an in-memory exporter); returns whether it is on. Once per process: a second call does nothing."""
    global _tracer, _provider
    if processor is None and not wanted():
        return False
    with _lock:
        if _tracer is not None:
            return True
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider

        service = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
        if processor is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            processor = BatchSpanProcessor(OTLPSpanExporter())
        provider.add_span_processor(processor)
        # Not the global provider: it can be set once per process, and tests turn tracing on and
        # off. Each instrumentation is handed ours; nothing else here asks for the global one.
        DjangoInstrumentor().instrument(tracer_provider=provider)
        PsycopgInstrumentor().instrument(tracer_provider=provider)
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
        _provider = provider
        _tracer = provider.get_tracer("simrenew")
    return True


def stop_tracing() -> None:
    """Export what is pending and turn tracing off (a worker's exit; tests)."""
    global _tracer, _provider
    with _lock:
        if _provider is None:
            return
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        DjangoInstrumentor().uninstrument()
        PsycopgInstrumentor().uninstrument()
        HTTPXClientInstrumentor().uninstrument()
        provider, _provider, _tracer = _provider, None, None
    provider.shutdown()


def span(
    name: str, attributes: Mapping[str, AttributeValue | None] | None = None
) -> AbstractContextManager[Span | None]:
    """A span around a block, the current span's child (`None` inside when tracing is off)."""
    if _tracer is None:
        return nullcontext()
    return _tracer.start_as_current_span(name, attributes=_attributes(attributes))


def continued_span(
    traceparent: str | None, name: str, attributes: Mapping[str, AttributeValue | None] | None = None
) -> AbstractContextManager[Span | None]:
    """A span continuing the trace a stored W3C `traceparent` names (an outbox event's), as that
    span's child; a new trace when there is none (tracing was off when the event was written)."""
    if _tracer is None:
        return nullcontext()
    return _continued(_tracer, traceparent, name, attributes)


@contextmanager
def _continued(
    tracer: Tracer, traceparent: str | None, name: str, attributes: Mapping[str, AttributeValue | None] | None
) -> Iterator[Span]:
    from opentelemetry import context
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    # An empty context, not the current one: a delivery belongs to its event's trace, not to
    # whatever the worker was doing when it picked it up.
    carrier = {"traceparent": traceparent} if traceparent else {}
    parent = TraceContextTextMapPropagator().extract(carrier, context.Context())
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes=_attributes(attributes)
    ) as current:
        yield current


def set_attributes(current: Span | None, attributes: Mapping[str, AttributeValue | None]) -> None:
    """Record what a block learned on its span (nothing when tracing is off)."""
    if current is not None:
        current.set_attributes(_attributes(attributes))


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, if one is recording (what an outbox row keeps)."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _inject_current(carrier)
    return carrier.get("traceparent")


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current span's `traceparent` to outgoing headers, so the receiver can join the trace."""
    if _tracer is not None:
        _inject_current(headers)


def _inject_current(carrier: MutableMapping[str, str]) -> None:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if trace.get_current_span().is_recording():
        TraceContextTextMapPropagator().inject(carrier)


def current_ids() -> tuple[str, str] | None:
    """The current span's trace id and span id in hex (what a log line carries), if one is active."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    found = trace.get_current_span().get_span_context()
    if not found.is_valid:
        return None
    return f"{found.trace_id:032x}", f"{found.span_id:016x}"


def _attributes(attributes: Mapping[str, AttributeValue | None] | None) -> dict[str, Any]:
    return {name: value for name, value in (attributes or {}).items() if value is not None}
