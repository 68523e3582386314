"""The container's health check (`python -m simrenew.kit.probe`) asks a live server as a load
balancer would: over plain HTTP on this machine, under the public host name, without loading Django."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.management.test_deploy_checks import complete_live_env, simrenew
from tests.management.test_serve import first_health_check, free_port

SIMRENEW = str(Path(sys.executable).with_name("simrenew"))


def probe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIMRENEW_")}
    return subprocess.run(
        [sys.executable, "-m", "simrenew.kit.probe", *args], env={**clean, **env}, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def serving_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, str]]]:
    """`simrenew serve` in live mode (https-only, answering only to its public host name)."""
    env = complete_live_env(tmp_path_factory.mktemp("live"))
    assert simrenew("migrate", "-v0", env=env).returncode == 0
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIMRENEW_")}
    server = subprocess.Popen(
        [SIMRENEW, "serve", "--port", str(port), "--workers", "1", "--threads", "2"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "simrenew.settings", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first_health_check(port, within=60)  # a 400 (wrong Host) is an answer: the server is up
        yield port, env
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_probe_passes_on_a_serving_live_that_answers_healthz(serving_live: tuple[int, dict[str, str]]):
    port, env = serving_live

    healthy = probe("/healthz", str(port), env=env)

    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert '"status": "ok"' in healthy.stdout


def test_the_probe_fails_on_readyz_while_no_worker_has_ticked_and_says_why(serving_live: tuple[int, dict[str, str]]):
    port, env = serving_live

    ready = probe("/readyz", str(port), env={**env, "SIMRENEW_PORT": str(port)})

    assert ready.returncode == 1
    assert ready.stdout.startswith("503 ") and '"worker": "no tick for 5 minutes"' in ready.stdout


def test_the_probe_fails_when_the_server_would_not_answer_its_host_name(serving_live: tuple[int, dict[str, str]]):
    port, env = serving_live

    other_host = probe("/healthz", str(port), env={**env, "SIMRENEW_PUBLIC_URL": "https://elsewhere.example.org"})

    assert other_host.returncode == 1 and other_host.stdout.startswith("400 ")


def test_the_probe_fails_when_nothing_listens():
    closed = probe("/healthz", str(free_port()), env={})

    assert closed.returncode == 1 and closed.stdout.startswith("no answer:")


@pytest.mark.parametrize("args", [[], ["healthz"], ["/healthz", "eighty"], ["//evil.example/x", "8000"]])
def test_the_probe_refuses_what_is_not_a_local_path_and_port(args: list[str]):
    refused = probe(*args, env={})

    assert refused.returncode == 2 and refused.stdout == ""
