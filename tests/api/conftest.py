from __future__ import annotations

import pytest

from tests.api.helpers import ApiClient, make_api_key


@pytest.fixture
def api_key(db: None) -> str:
    """A raw API key with the `write` scope."""
    return make_api_key(scopes=("write",))


@pytest.fixture
def api(api_key: str) -> ApiClient:
    """A JSON client for /api/v1 authenticated with a `write` key."""
    return ApiClient(api_key)
