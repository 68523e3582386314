"""The operator's side of a failed line order: the console lists what needs them, sends a failed
order again as a new round, or marks it resolved with a note; both land in the audit trail, and
support staff can only look."""

from __future__ import annotations

import pytest

from simrenew.audit.models import AuditEntry
from simrenew.provisioning.models import LineOrder
from tests.customers.console_helpers import staff_client
from tests.factories import make_subscription

pytestmark = pytest.mark.django_db

PAGES = "/admin/provisioning/lineorder/"


def failed_order() -> LineOrder:
    subscription = make_subscription(auto_renew=False)
    order = LineOrder.objects.get(line__esim_id=subscription.esim_id)
    order.status, order.last_error = "rejected", "400 INVALID: unknown iccid"
    order.save()
    return order


def test_the_console_lists_orders_that_need_an_operator(clock):
    order = failed_order()
    page = staff_client("admin").get(PAGES + "?needs_operator=yes")
    assert page.status_code == 200
    assert order.external_id in page.content.decode() and "unknown iccid" in page.content.decode()


def test_an_admin_retries_a_failed_order_as_a_new_round(clock):
    order = failed_order()
    answer = staff_client("admin").post(PAGES, {"action": "retry_selected", "_selected_action": [order.pk]})
    assert answer.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.external_id, order.attempts) == ("queued", f"simrenew-{order.line_id}-1-r1", 0)
    assert order.body["externalId"] == order.external_id
    assert AuditEntry.objects.filter(action="line_order.retry").count() == 1


def test_an_admin_marks_a_failed_order_resolved_with_a_note(clock):
    order = failed_order()
    admin = staff_client("admin")
    page = admin.get(f"{PAGES}{order.pk}/resolve/")
    assert page.status_code == 200
    refused = admin.post(f"{PAGES}{order.pk}/resolve/", {"note": ""})
    assert refused.status_code == 400
    done = admin.post(f"{PAGES}{order.pk}/resolve/", {"note": "Added by hand at the carrier's portal"})
    assert done.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.resolution_note) == ("resolved", "Added by hand at the carrier's portal")
    assert order.resolved_by
    assert AuditEntry.objects.filter(action="line_order.resolve").count() == 1
    again = admin.post(f"{PAGES}{order.pk}/resolve/", {"note": "twice"})
    assert again.status_code == 400  # only a failed order can be resolved: said on the page, nothing changed


def test_support_staff_can_look_but_not_act(clock):
    order = failed_order()
    support = staff_client("support")
    assert support.get(PAGES).status_code == 200
    assert support.get(f"{PAGES}{order.pk}/resolve/").status_code == 403
    support.post(PAGES, {"action": "retry_selected", "_selected_action": [order.pk]})
    order.refresh_from_db()
    assert order.status == "rejected"
