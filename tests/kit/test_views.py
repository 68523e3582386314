"""/healthz says up or down and nothing else: a load balancer needs no more, an attacker gets no less."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError

from simrenew.kit import views

LEAKY_FAILURE = (
    'connection to server at "db.internal.example" (10.0.4.7), port 5432 failed: '
    'FATAL:  password authentication failed for user "simrenew_live"'
)


class _DownDatabase:
    def cursor(self) -> None:
        raise OperationalError(LEAKY_FAILURE)


@pytest.mark.django_db
def test_a_healthy_server_says_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_database_that_does_not_answer_is_a_bare_503(client, monkeypatch, caplog):
    monkeypatch.setattr(views, "connection", _DownDatabase())

    with caplog.at_level(logging.ERROR, logger="simrenew.kit.views"):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    # The operator's log says what kind of failure it was, without the host, address or user.
    assert "OperationalError" in caplog.text
    for secret in ("db.internal.example", "10.0.4.7", "simrenew_live", "password"):
        assert secret not in caplog.text
        assert secret not in response.content.decode()
