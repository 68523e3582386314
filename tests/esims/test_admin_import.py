"""Inventory import in the console: upload a CSV, see the good rows and the bad ones with
their reasons (nothing imported yet), then confirm to import the good ones. Admins only."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from simrenew.audit.models import AuditEntry
from simrenew.esims.models import EsimProfile
from tests.customers.console_helpers import staff_client
from tests.factories import make_carrier, valid_iccid

pytestmark = pytest.mark.django_db
URL = "/admin/esims/esimprofile/import/"


def csv_file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("batch.csv", text.encode(), content_type="text/csv")


def test_preview_then_import_the_good_rows(clock):
    make_carrier(code="att")
    good_one, good_two = valid_iccid(9001), valid_iccid(9002)
    text = (
        "iccid,carrier,msisdn,activation_code\n"
        f"{good_one},att,+12015550101,1$smdp.example.com$MATCH-1\n"
        "8901260000000090030,att,+12015550102,1$smdp.example.com$MATCH-2\n"  # wrong check digit
        f"{good_two},att,+12015550103,1$smdp.example.com$MATCH-3\n"
        f"{valid_iccid(9004)},sprint,+12015550104,1$smdp.example.com$MATCH-4\n"
    )
    admin = staff_client("admin")

    preview = admin.post(URL, {"file": csv_file(text)})

    html = preview.content.decode()
    assert preview.status_code == 200
    assert preview.context["report"].imported == 2 and preview.context["good_count"] == 2
    assert [error.line for error in preview.context["report"].errors] == [3, 5]
    assert "Luhn" in html and "Unknown carrier &#x27;sprint&#x27;" in html
    assert good_one in html and good_two in html
    assert not EsimProfile.objects.exists() and not AuditEntry.objects.exists()  # a preview keeps nothing

    done = admin.post(URL, {"csv_text": preview.context["confirm"].initial["csv_text"], "file_name": "batch.csv"})

    assert done.status_code == 302
    assert set(EsimProfile.objects.values_list("iccid", flat=True)) == {good_one, good_two}
    entry = AuditEntry.objects.get(action="inventory_import")
    assert entry.after == {
        "file": "batch.csv",
        "imported": 2,
        "unchanged": 0,
        "rejected": 2,
        "imported_iccids": sorted([good_one, good_two]),
    }


def test_the_audit_entry_lists_only_the_profiles_the_import_added(clock):
    make_carrier(code="att")
    kept, new = valid_iccid(9201), valid_iccid(9202)
    header = "iccid,carrier,msisdn,activation_code\n"
    first = f"{kept},att,+12015550111,1$smdp.example.com$M-1\n"
    admin = staff_client("admin")
    admin.post(URL, {"csv_text": header + first, "file_name": "first.csv"})
    # Printed with spaces, as on the card: the entry names it in its stored form.
    spaced = " ".join(new[i : i + 4] for i in range(0, len(new), 4))
    second = first + f"{spaced},att,+12015550112,1$smdp.example.com$M-2\n"

    admin.post(URL, {"csv_text": header + second, "file_name": "second.csv"})

    entry = AuditEntry.objects.filter(action="inventory_import").latest("id")
    assert (entry.after["imported"], entry.after["unchanged"]) == (1, 1)
    assert entry.after["imported_iccids"] == [new]


def test_a_wrong_header_is_told_and_imports_nothing(clock):
    response = staff_client("admin").post(URL, {"file": csv_file("iccid,phone\n1,2\n")})
    assert response.status_code == 400 and "The header must be" in response.content.decode()
    response = staff_client("admin").post(URL, {"file": SimpleUploadedFile("x.csv", b"iccid\xff\xfebad")})
    assert response.status_code == 400 and "not UTF-8" in response.content.decode()
    assert not EsimProfile.objects.exists()


@pytest.mark.parametrize("role", ["support", "finance"])
def test_only_admins_import(clock, role):
    make_carrier(code="att")
    text = f"iccid,carrier,msisdn,activation_code\n{valid_iccid(9101)},att,+12015550101,1$smdp.example.com$M-1\n"
    client = staff_client(role)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"csv_text": text, "file_name": "x.csv"}).status_code == 403
    assert not EsimProfile.objects.exists()
