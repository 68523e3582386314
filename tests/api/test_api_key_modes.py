"""A sandbox key never opens a live server, and a live key is never spent against the sandbox."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings

from simrenew.api.keys import create_api_key
from simrenew.management.commands.demo import DEMO_API_KEY
from tests.api.helpers import ApiClient, assert_problem

pytestmark = pytest.mark.django_db


def test_the_readme_demo_key_reads_the_sandbox_but_is_refused_by_a_live_server(settings: Settings) -> None:
    call_command("demo", stdout=None)
    assert ApiClient(DEMO_API_KEY).get("customers").status_code == 200

    settings.SIMRENEW_SANDBOX = False

    response = ApiClient(DEMO_API_KEY).get("customers")
    assert_problem(response, status=401, type="/problems/unauthorized")


def test_a_live_key_is_refused_by_a_sandbox_server(settings: Settings) -> None:
    settings.SIMRENEW_SANDBOX = False
    _, live_raw = create_api_key(name="production", scopes=["read"])
    assert ApiClient(live_raw).get("plans").status_code == 200

    settings.SIMRENEW_SANDBOX = True

    assert_problem(ApiClient(live_raw).get("plans"), status=401, type="/problems/unauthorized")
