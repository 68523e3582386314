"""Who may call the API: a Bearer key, with the scope the request needs."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from pytest_django.fixtures import Settings

from simrenew.api.keys import authenticate, create_api_key, revoke_api_key
from simrenew.api.models import ApiKey
from simrenew.customers.models import Customer
from tests.api.helpers import ApiClient, assert_problem, make_api_key

pytestmark = pytest.mark.django_db

BOB = {"email": "bob@example.com", "name": "Bob"}


def test_no_key_is_a_401_with_a_bearer_challenge(db: None) -> None:
    response = ApiClient(None).get("plans")

    body = assert_problem(response, status=401, type="/problems/unauthorized")
    assert response["WWW-Authenticate"] == 'Bearer realm="simrenew"'
    assert "Bearer" in body["detail"]


@pytest.mark.parametrize("header", ["Bearer sr_test_unknown", "Bearer ", "Basic dXNlcjpwYXNz", "sr_test_x"])
def test_a_bad_key_or_scheme_is_a_401(db: None, header: str) -> None:
    response = ApiClient(None).get("plans", headers={"Authorization": header})

    assert_problem(response, status=401, type="/problems/unauthorized")
    assert response["WWW-Authenticate"].startswith('Bearer realm="simrenew"')


def test_a_revoked_key_no_longer_works(db: None) -> None:
    key, raw = create_api_key(name="old partner", scopes=["write"])
    assert ApiClient(raw).get("plans").status_code == 200

    revoke_api_key(key)

    response = ApiClient(raw).get("plans")
    assert_problem(response, status=401, type="/problems/unauthorized")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_read_key_reads_but_may_not_write(db: None) -> None:
    reader = ApiClient(make_api_key(scopes=("read",)))

    assert reader.get("customers").status_code == 200
    response = reader.post("customers", BOB)

    body = assert_problem(response, status=403, type="/problems/insufficient-scope")
    assert "'write'" in body["detail"]
    assert Customer.objects.count() == 0


def test_write_and_admin_keys_may_write(db: None) -> None:
    for scopes, email in ((("write",), "w@example.com"), (("admin",), "a@example.com")):
        response = ApiClient(make_api_key(scopes=scopes)).post("customers", {**BOB, "email": email})
        assert response.status_code == 201, response.content
    assert Customer.objects.count() == 2


def test_a_key_without_any_scope_may_do_nothing(db: None) -> None:
    raw = make_api_key(scopes=("read",))
    ApiKey.objects.update(scopes=[])

    assert_problem(ApiClient(raw).get("plans"), status=403, type="/problems/insufficient-scope")


def test_only_the_hash_of_a_key_is_stored() -> None:
    key, raw = create_api_key(name="partner", scopes=["read", "write"])

    assert raw.startswith("sr_test_")
    assert len(raw) > 40
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.prefix == raw[:12]
    assert key.scopes == ["read", "write"]
    assert not ApiKey.objects.filter(key_hash=raw).exists()
    assert raw not in str(list(ApiKey.objects.values()))


def test_live_keys_are_marked_as_such_outside_the_sandbox(settings: Settings) -> None:
    settings.SIMRENEW_SANDBOX = False

    _, raw = create_api_key(name="production", scopes=["write"])

    assert raw.startswith("sr_live_")


@pytest.mark.parametrize(
    ("name", "scopes", "field"),
    [("", ["write"], "name"), ("partner", ["superuser"], "scopes"), ("partner", [], "scopes")],
)
def test_a_key_needs_a_name_and_known_scopes(db: None, name: str, scopes: list[str], field: str) -> None:
    from simrenew.kit.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        create_api_key(name=name, scopes=scopes)

    assert [e.field for e in caught.value.errors] == [field]
    assert ApiKey.objects.count() == 0


def test_use_is_recorded_at_most_once_a_minute(db: None) -> None:
    key, raw = create_api_key(name="partner", scopes=["read"])
    assert key.last_used_at is None

    first = authenticate(raw)
    assert first is not None and first.last_used_at is not None
    stamped = first.last_used_at
    authenticate(raw)
    assert ApiKey.objects.get().last_used_at == stamped

    ApiKey.objects.update(last_used_at=stamped - timedelta(minutes=2))
    authenticate(raw)
    assert ApiKey.objects.get().last_used_at > stamped - timedelta(minutes=1)  # type: ignore[operator]
