from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from simrenew.kit import tracing


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, as the OTEL_* variables turn it on, with an in-memory exporter
    instead of OTLP: each finished span is there at once."""
    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing(processor=SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        tracing.stop_tracing()
