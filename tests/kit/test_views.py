"""/healthz says the process is up and nothing else: a liveness probe needs no more, an attacker
gets no less. It asks nothing of the database (whether to send traffic is /readyz's question:
tests/worker/test_readiness.py stops a real database under a real server)."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_a_running_process_says_ok_without_asking_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405
