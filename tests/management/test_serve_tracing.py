"""A live `simrenew serve` (gunicorn) with OTEL_EXPORTER_OTLP_ENDPOINT set exports its spans to that
collector over real HTTP (OTLP, protobuf), from the worker process gunicorn forked, and writes its
logs as JSON lines; the collector here is a small HTTP server on a loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.management.test_serve import first_health_check, free_port
from tests.notifications.servers import HttpReceiver, Received, http_receiver

SIMRENEW = str(Path(sys.executable).with_name("simrenew"))


def exported(collector: HttpReceiver, *, within: float = 30) -> list[Received]:
    deadline = time.monotonic() + within
    while not collector.requests and time.monotonic() < deadline:
        time.sleep(0.1)
    return list(collector.requests)


def test_a_live_server_exports_its_spans_to_the_otlp_collector_and_logs_json(tmp_path: Path):
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env.update(
        DJANGO_SETTINGS_MODULE="simrenew.settings",
        SIMRENEW_SANDBOX="1",
        SIMRENEW_LOG_FORMAT="json",
        SIMRENEW_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        SIMRENEW_VAR_DIR=str(tmp_path / "var"),
    )
    subprocess.run([SIMRENEW, "migrate", "-v0"], check=True, env=env)
    port = free_port()
    with http_receiver() as collector:
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.port}",
            OTEL_SERVICE_NAME="simrenew-test",
            OTEL_BSP_SCHEDULE_DELAY="100",  # export within a tenth of a second, not the default five
        )
        server = subprocess.Popen(
            [SIMRENEW, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            assert first_health_check(port, within=30).status_code == 200
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-Id": "probe-1"}, timeout=5)
            posts = exported(collector)
        finally:
            server.terminate()
            output = server.communicate(timeout=30)[0].decode()

    assert answer.headers["X-Request-Id"] == "probe-1"
    assert posts, f"no spans reached the collector; the server said:\n{output[-3000:]}"
    assert {(post.path, post.headers["content-type"]) for post in posts} == {("/v1/traces", "application/x-protobuf")}
    requests = [ExportTraceServiceRequest.FromString(post.body) for post in posts]  # they parse as OTLP
    resource_spans = [group for request in requests for group in request.resource_spans]
    services = {
        attribute.value.string_value
        for group in resource_spans
        for attribute in group.resource.attributes
        if attribute.key == "service.name"
    }
    names = {span.name for group in resource_spans for scope in group.scope_spans for span in scope.spans}
    assert services == {"simrenew-test"}
    assert "GET healthz" in names
    # gunicorn's access lines and its own are JSON objects, one a line.
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    (access,) = [line for line in lines if line.get("logger") == "gunicorn.access" and line["request_id"] == "probe-1"]
    assert (access["method"], access["path"], access["status"]) == ("GET", "/healthz", 200)
    assert any(line.get("logger") == "gunicorn.error" for line in lines)
