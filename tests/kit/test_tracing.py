"""One trace from a partner's renewal to the webhook the partner receives about it: the API
request, the gateway charge and the outbox delivery (sent later by the worker) share a trace id,
and the receiver gets a `traceparent` to join it. Tracing is turned on in this process with an
in-memory exporter, as the OTEL_* variables turn it on with an OTLP one; off, nothing is traced."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from simrenew.kit import tracing
from simrenew.notifications.models import OutboxMessage
from simrenew.webhooks.services import create_endpoint
from tests.api.conftest import api, api_key
from tests.api.helpers import ApiClient
from tests.factories import make_plan, make_subscription, renew_due
from tests.notifications.fixtures import _fresh_sms_provider, receiver
from tests.notifications.helpers import run_worker

__all__ = ["_fresh_sms_provider", "api", "api_key", "receiver"]  # fixtures shared with the API and webhook stories


def renew(api: ApiClient, subscription_id: int) -> None:
    response = api.post(f"subscriptions/{subscription_id}/renewals", {}, headers={"Idempotency-Key": "renew-1"})
    assert response.status_code == 201, response.content


def sampled(traceparent: str) -> bool:
    """The W3C flags' sampled bit (the SDK also sets the "random trace id" bit, 0x02)."""
    return bool(int(traceparent.rsplit("-", 1)[1], 16) & 0x01)


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_a_renewal_and_the_webhook_about_it_are_one_trace(clock, receiver, api, spans):
    create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    subscription = make_subscription()
    spans.clear()  # what setting up wrote (no request: no trace)

    renew(api, subscription.pk)
    run = run_worker()

    assert run.sent >= 1 and len(receiver.requests) == 1
    finished = spans.get_finished_spans()
    (request,) = [s for s in finished if s.kind == SpanKind.SERVER]
    (charge,) = [s for s in finished if s.name == "payment.charge"]
    (delivery,) = [s for s in finished if s.name == "deliver webhook"]
    trace_id = request.context.trace_id
    assert request.parent is None and "renewals" in request.name
    assert charge.context.trace_id == trace_id and parent_of(charge) == request.context.span_id
    assert charge.attributes["payment.provider"] == "sandbox"
    assert charge.attributes["payment.outcome"] == "succeeded"
    # The worker sent it later, in another transaction: the event kept the request's context.
    event = OutboxMessage.objects.get(event_type="subscription.renewed")
    assert event.traceparent is not None
    assert event.traceparent.startswith(f"00-{trace_id:032x}-{request.context.span_id:016x}-")
    assert sampled(event.traceparent)
    assert delivery.context.trace_id == trace_id and parent_of(delivery) == request.context.span_id
    assert delivery.kind == SpanKind.CONSUMER
    assert delivery.attributes["simrenew.event.type"] == "subscription.renewed"
    assert delivery.attributes["simrenew.delivery.outcome"] == "sent"
    # The receiver can join the trace: its traceparent names the delivery's outbound call.
    traceparent = receiver.requests[0].headers["traceparent"]
    version, header_trace, header_parent, _flags = traceparent.split("-")
    assert (version, header_trace) == ("00", f"{trace_id:032x}") and sampled(traceparent)
    (outbound,) = [s for s in finished if f"{s.context.span_id:016x}" == header_parent]
    assert outbound.kind == SpanKind.CLIENT and parent_of(outbound) == delivery.context.span_id


def test_an_event_written_while_tracing_is_off_is_delivered_in_a_trace_of_its_own(clock, receiver, api):
    create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    subscription = make_subscription()
    renew(api, subscription.pk)
    exporter = InMemorySpanExporter()
    tracing.configure_tracing(processor=SimpleSpanProcessor(exporter))
    try:
        run_worker()
    finally:
        tracing.stop_tracing()

    (delivery,) = [s for s in exporter.get_finished_spans() if s.name == "deliver webhook"]
    assert delivery.parent is None
    assert receiver.requests[0].headers["traceparent"].split("-")[1] == f"{delivery.context.trace_id:032x}"


def test_with_tracing_off_no_context_is_stored_or_sent_and_no_span_is_made(clock, receiver, api, settings):
    create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    subscription = make_subscription()

    renew(api, subscription.pk)
    run_worker()

    assert not tracing.is_on()
    assert set(OutboxMessage.objects.values_list("traceparent", flat=True)) == {None}
    assert len(receiver.requests) == 1 and "traceparent" not in receiver.requests[0].headers
    assert not [name for name in settings.MIDDLEWARE if "opentelemetry" in name]  # no request span either
    with tracing.span("payment.charge") as span:
        assert span is None
        assert tracing.current_traceparent() is None and tracing.current_ids() is None


def test_with_tracing_off_the_server_does_not_even_import_opentelemetry(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(DJANGO_SETTINGS_MODULE="simrenew.settings", SIMRENEW_SANDBOX="1", SIMRENEW_VAR_DIR=str(tmp_path))
    check = "import sys, simrenew.wsgi; print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"

    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_SERVICE_NAME": "simrenew"}, False),
    ],
)
def test_the_standard_variables_turn_tracing_on_and_off(environ: dict[str, str], wanted: bool) -> None:
    assert tracing.wanted(environ) is wanted


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_each_query_is_a_span_of_the_request_that_made_it(spans, client):
    if connection.vendor != "postgresql":
        pytest.skip("the psycopg instrumentation traces PostgreSQL's driver")
    connection.close()  # the next query connects through the instrumented driver, as a server's first does

    response = client.get("/readyz")  # asks the database `SELECT 1` (and more)

    assert response.json()["checks"]["database"] == "ok"
    (request,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    queries = [s for s in spans.get_finished_spans() if s.attributes.get("db.system") == "postgresql"]
    assert queries and all(parent_of(query) == request.context.span_id for query in queries)
    assert any("SELECT 1" in str(query.attributes.get("db.statement", "")) for query in queries)


def test_the_workers_auto_renew_batch_is_one_gateway_span_with_its_outcomes(clock, spans):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    clock.set(subscription.paid_through - timedelta(hours=72))
    spans.clear()

    counts = renew_due()

    assert counts.succeeded == 1
    (batch,) = [s for s in spans.get_finished_spans() if s.name == "payment.charge_many"]
    assert batch.attributes["payment.provider"] == "sandbox" and batch.attributes["payment.charges"] == 1
    assert batch.attributes["payment.outcome.succeeded"] == 1
