"""Every operator-side change lands in the audit trail once, naming who made it: the API key
through the partner API, `cli:<OS user>` at the command line, the staff member in the
console, `worker` for the worker's own decisions. A customer's own change is not the trail's,
and a rolled-back change leaves no entry."""

from __future__ import annotations

import getpass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from simrenew.api.keys import create_api_key
from simrenew.api.models import ApiKey
from simrenew.audit.models import AuditEntry
from simrenew.billing.models import Invoice
from simrenew.customers.services import update_customer
from simrenew.kit.actors import Actor, ActorKind, acting_as, current_actor
from simrenew.webhooks.services import create_endpoint, record_failure
from simrenew.worker.runner import Worker
from tests.api.helpers import ApiClient, make_api_key
from tests.customers.console_helpers import staff_client
from tests.esims.helpers import activation_code_for
from tests.factories import make_carrier, make_customer, make_plan, make_subscription, valid_iccid

pytestmark = pytest.mark.django_db
CLI_USER = f"cli:{getpass.getuser()}"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def only_entry(**lookup: object) -> AuditEntry:
    entries = list(AuditEntry.objects.filter(**lookup))
    assert len(entries) == 1, [(e.action, e.actor_label) for e in AuditEntry.objects.all()]
    return entries[0]


# --- the partner API: the key is the actor ----------------------------------------------------------


def test_a_refund_through_the_api_is_audited_naming_the_key(clock):
    raw = make_api_key(scopes=("admin",), name="Acme operator")
    key = ApiKey.objects.get()
    make_subscription(plan=make_plan(price_minor=2500))
    invoice = Invoice.objects.get()

    response = ApiClient(raw).post(f"invoices/{invoice.pk}/refunds", {"amount_minor": 1000, "reason": "Outage"})

    assert response.status_code == 201, response.content
    entry = only_entry(action="refund")
    assert (entry.actor_kind, entry.api_key_id, entry.actor_id) == (ActorKind.API_KEY, key.pk, None)
    assert entry.actor_label == f"api_key:{key.prefix} (Acme operator)"
    assert entry.reason == "Outage" and entry.target_id == str(invoice.pk)
    assert (entry.before["refunded_minor"], entry.after["refund_amount_minor"]) == (0, 1000)


def test_moving_the_test_clock_through_the_api_is_audited(clock):
    raw = make_api_key(scopes=("write",))

    response = ApiClient(raw).put("test-clock", {"now": "2026-03-01T09:00:00+00:00"})

    assert response.status_code == 200, response.content
    entry = only_entry(action="test_clock.set")
    assert (entry.actor_kind, entry.api_key_id) == (ActorKind.API_KEY, ApiKey.objects.get().pk)
    assert entry.before["now"].startswith("2026-01-15T12:00") and entry.after["now"].startswith("2026-03-01T09:00")


def test_a_customer_changed_through_the_api_is_audited_but_not_by_the_customer_themself(clock):
    customer = make_customer(name="Ada")
    raw = make_api_key(scopes=("write",))

    with acting_as(Actor.for_user(customer.user)), transaction.atomic():  # the portal's edge
        update_customer(customer, name="Ada L.")
    assert not AuditEntry.objects.exists()

    response = ApiClient(raw).patch(f"customers/{customer.pk}", {"name": "Ada Lovelace"})

    assert response.status_code == 200, response.content
    entry = only_entry(action="change")
    assert entry.actor_kind == ActorKind.API_KEY and entry.customer_id == customer.pk
    assert (entry.before, entry.after) == ({"name": "Ada L."}, {"name": "Ada Lovelace"})


def test_a_cancellation_by_an_api_key_is_audited(clock):
    subscription = make_subscription()
    raw = make_api_key(scopes=("write",))

    response = ApiClient(raw).post(f"subscriptions/{subscription.pk}/cancel", {"when": "period_end"})

    assert response.status_code == 200, response.content
    entry = only_entry(action="cancel.period_end")
    assert entry.actor_kind == ActorKind.API_KEY and entry.target_id == str(subscription.pk)
    assert (entry.before["state"], entry.after["state"]) == ("live", "cancelled")


# --- the CLI: cli:<OS user> ---------------------------------------------------------------------------


def test_apikey_create_and_revoke_on_the_command_line_are_audited(clock):
    run("apikey", "create", "--name", "Acme", "--scope", "read")
    key = ApiKey.objects.get()
    run("apikey", "revoke", key.prefix)

    added, revoked = only_entry(action="add"), only_entry(action="revoke")
    assert (added.actor_kind, added.actor_label) == (ActorKind.CLI, CLI_USER)
    assert added.target_type == "api.apikey" and added.after["prefix"] == key.prefix
    assert "key_hash" not in added.after
    assert (revoked.actor_kind, revoked.actor_label, revoked.target_id) == (ActorKind.CLI, CLI_USER, str(key.pk))
    assert revoked.before == {"revoked_at": None} and revoked.after["revoked_at"]


def test_clock_set_and_advance_on_the_command_line_are_audited(clock):
    run("clock", "set", "2026-02-01T00:00:00+00:00")
    run("clock", "advance", "36h")

    moved = AuditEntry.objects.order_by("id")
    assert [(e.action, e.actor_kind, e.actor_label) for e in moved] == [
        ("test_clock.set", ActorKind.CLI, CLI_USER),
        ("test_clock.advance", ActorKind.CLI, CLI_USER),
    ]
    assert moved[1].before["now"].startswith("2026-02-01T00:00")
    assert moved[1].after["now"].startswith("2026-02-02T12:00")


def test_profiles_import_on_the_command_line_is_one_entry_listing_the_iccids(clock, tmp_path: Path):
    make_carrier(code="att")
    iccids = [valid_iccid() for _ in range(2)]
    rows = [f"{i},att,+12125550100,{activation_code_for(i)}" for i in iccids]
    csv_file = tmp_path / "batch.csv"
    csv_file.write_text("\n".join(["iccid,carrier,msisdn,activation_code", *rows]) + "\n", encoding="utf-8")

    run("profiles", "import", str(csv_file))

    entry = only_entry(action="inventory_import")
    assert (entry.actor_kind, entry.actor_label) == (ActorKind.CLI, CLI_USER)
    assert entry.after["imported_iccids"] == sorted(iccids) and entry.after["imported"] == 2
    assert entry.after["file"] == str(csv_file)


def test_the_simrenew_entry_point_names_the_cli_actor_for_every_command(capsys, monkeypatch):
    from simrenew import manage

    monkeypatch.setattr(
        "sys.argv",
        ["simrenew", "shell", "-c", "from simrenew.kit.actors import current_actor; print(current_actor().label)"],
    )

    manage.main()

    assert capsys.readouterr().out.strip().splitlines()[-1] == CLI_USER
    assert current_actor() is None  # and only while the command runs


# --- the console: the staff member, once ------------------------------------------------------------


def test_the_console_records_each_change_once_as_the_staff_member(clock, settings):
    admin = staff_client("admin")

    admin.post("/admin/api/apikey/add/", {"name": "Acme travel", "scopes": ["read"]})
    admin.post("/admin/kit/testclock/", {"verb": "advance", "by": "1d"})

    entries = list(AuditEntry.objects.order_by("id"))
    assert [e.action for e in entries] == ["add", "test_clock.advance"]
    assert {(e.actor_kind, e.actor_id is not None, e.api_key_id) for e in entries} == {(ActorKind.STAFF, True, None)}


# --- the worker's own decisions -----------------------------------------------------------------------


def test_the_worker_disabling_a_failing_endpoint_is_audited_as_the_worker(clock, settings):
    settings.SIMRENEW_WEBHOOK_DISABLE_AFTER_DAYS = 1
    endpoint = create_endpoint(url="http://127.0.0.1:9/hooks")
    record_failure(endpoint.pk)  # failing since now
    clock.advance(days=2)
    make_customer()  # an event to send, which fails again

    worker = Worker(worker_id="audit", batches_in_flight=1)
    try:
        worker.run_once()
    finally:
        worker.close()

    endpoint.refresh_from_db()
    assert not endpoint.enabled
    entry = only_entry(action="disable")
    assert (entry.actor_kind, entry.actor_label, entry.target_id) == (ActorKind.WORKER, "worker", str(endpoint.pk))
    assert entry.reason == "every attempt failed for 1 days"


# --- who is nobody, and what is undone ----------------------------------------------------------------


def test_a_rolled_back_change_leaves_no_entry(clock):
    with acting_as(Actor.for_cli()), pytest.raises(RuntimeError), transaction.atomic():
        create_api_key(name="Short-lived", scopes=["read"])
        assert AuditEntry.objects.count() == 1  # written with the change…
        raise RuntimeError("the command fails after the key was made")

    assert not ApiKey.objects.exists() and not AuditEntry.objects.exists()  # …and gone with it


def test_code_outside_every_edge_is_nobody_and_leaves_no_entry(clock):
    assert current_actor() is None
    create_api_key(name="From a factory", scopes=["read"])
    assert not AuditEntry.objects.exists()
