"""API keys in the console: admins list, create (the key shown once, never stored or
audited in the clear) and revoke them; other roles do not see them."""

from __future__ import annotations

import json

import pytest

from simrenew.api.keys import authenticate
from simrenew.api.models import ApiKey
from simrenew.audit.models import AuditEntry
from tests.customers.console_helpers import staff_client

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_key_sees_it_once_and_revokes_it(clock):
    admin = staff_client("admin")

    response = admin.post("/admin/api/apikey/add/", {"name": "Acme travel", "scopes": ["read", "write"]})

    assert response.status_code == 200
    raw = response.context["raw_key"]
    assert raw in response.content.decode()
    key = ApiKey.objects.get()
    assert authenticate(raw) == key and key.scopes == ["read", "write"]
    entry = AuditEntry.objects.get(action="add")
    assert raw not in json.dumps(entry.after) and "key_hash" not in entry.after
    assert entry.after["prefix"] == key.prefix

    listing = admin.get("/admin/api/apikey/").content.decode()
    assert "Acme travel" in listing and key.prefix in listing and raw not in listing

    admin.post("/admin/api/apikey/", {"action": "revoke_selected", "_selected_action": [key.pk]})

    assert authenticate(raw) is None
    revoked = AuditEntry.objects.get(action="revoke")
    assert revoked.before == {"revoked_at": None} and revoked.after["revoked_at"]


def test_a_key_needs_a_name_and_a_scope(clock):
    response = staff_client("admin").post("/admin/api/apikey/add/", {"name": "", "scopes": []})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("role", ["support", "finance"])
def test_other_roles_cannot_see_or_make_keys(clock, role):
    client = staff_client(role)
    assert client.get("/admin/api/apikey/").status_code == 403
    assert client.post("/admin/api/apikey/add/", {"name": "x", "scopes": ["admin"]}).status_code == 403
    assert not ApiKey.objects.exists()
