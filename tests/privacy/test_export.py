"""A customer's data, exported: everything kept about them, as JSON and as a zip of CSV files."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from simrenew.privacy.export import KINDS, as_csv_zip, as_json, customer_data
from tests.factories import make_customer
from tests.privacy.story import EMAIL, LABEL, NAME, PAYPAL, PHONE, customer_with_history, valid_eid


def test_the_json_export_holds_every_kind_of_record_about_the_customer(clock):
    story = customer_with_history()
    make_customer(email="someone.else@example.com")  # another customer's data never appears

    document = json.loads(as_json(customer_data(story.customer)))

    assert set(KINDS) <= set(document)
    assert document["profile"] == [
        {
            "id": story.customer.pk,
            "email": EMAIL,
            "name": NAME,
            "phone": PHONE,
            "locale": "en",
            "time_zone": "Europe/London",
            "renew_with_other_methods": False,
            "created_at": document["profile"][0]["created_at"],
        }
    ]
    [esim] = document["esims"]
    assert (esim["iccid"], esim["eid"], esim["label"], esim["carrier"]) == (story.esim.iccid, valid_eid(), LABEL, "att")
    [subscription] = document["subscriptions"]
    assert subscription["state"] == "live"
    assert [p["number"] for p in document["periods"]] == [1, 2]
    assert all(p["invoice_number"] for p in document["periods"])
    assert {(m["type"], m["brand"], m["last4"], m["paypal_email"]) for m in document["payment_methods"]} == {
        ("card", "visa", "4242", ""),
        ("paypal", "paypal", "", PAYPAL),
    }
    assert "4242424242424242" not in json.dumps(document)
    assert [p["status"] for p in document["payments"]] == ["succeeded", "succeeded"]
    assert len(document["invoices"]) == 2 and all(i["total_minor"] == 1500 for i in document["invoices"])
    assert {(m["channel"], m["recipient"]) for m in document["messages"]} >= {("email", EMAIL), ("sms", PHONE)}
    assert [u["bytes"] for u in document["usage"]] == [250 * 1024 * 1024]
    assert "someone.else@example.com" not in json.dumps(document)


def test_the_csv_export_is_a_zip_with_one_file_per_kind_each_with_its_header(clock):
    story = customer_with_history()

    archive = zipfile.ZipFile(io.BytesIO(as_csv_zip(customer_data(story.customer))))

    assert sorted(archive.namelist()) == sorted(f"{kind}.csv" for kind in KINDS)
    profile = list(csv.DictReader(io.StringIO(archive.read("profile.csv").decode())))
    assert [(row["email"], row["name"], row["phone"]) for row in profile] == [(EMAIL, NAME, PHONE)]
    periods = list(csv.DictReader(io.StringIO(archive.read("periods.csv").decode())))
    assert [row["number"] for row in periods] == ["1", "2"]
    assert periods[0]["starts_at"].endswith("+00:00")
    methods = list(csv.DictReader(io.StringIO(archive.read("payment_methods.csv").decode())))
    assert {row["last4"] for row in methods} == {"4242", ""}


def test_a_customer_with_nothing_yet_gets_headers_and_their_profile(clock):
    customer = make_customer(email="new@example.com")

    archive = zipfile.ZipFile(io.BytesIO(as_csv_zip(customer_data(customer))))

    assert archive.read("esims.csv").decode().splitlines() == ["id,iccid,eid,msisdn,carrier,status,label"]
    assert "new@example.com" in archive.read("profile.csv").decode()
