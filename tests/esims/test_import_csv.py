from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from simrenew.esims.models import EsimProfile, ProfileStatus
from simrenew.esims.services import ImportFileInvalid, ImportRowError, import_profiles_csv
from tests.esims.helpers import activation_code_for, make_profile
from tests.factories import make_carrier, make_customer
from tests.factories import valid_iccid as next_iccid

pytestmark = pytest.mark.django_db

HEADER = "iccid,carrier,msisdn,activation_code,eid"
EID = "89049032123451234512345678901235"


@pytest.fixture(autouse=True)
def carriers() -> None:
    for code in ("att", "tmobile", "verizon"):
        make_carrier(code=code)


def _snapshot() -> list[dict[str, Any]]:
    return [dict(row) for row in EsimProfile.objects.order_by("iccid").values()]


def test_good_rows_are_imported_as_available_profiles() -> None:
    text = (
        f"{HEADER}\n"
        "8965880812100011146,att,+1 212 555 0100,LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815,\n"
        f"89445310150011013678,TMobile,+12125550101,1$rsp.example.com$ABC-123$$1,{EID}\n"
    )

    report = import_profiles_csv(text)

    assert (report.imported, report.unchanged, report.errors) == (2, 0, [])
    first, second = EsimProfile.objects.order_by("iccid")
    assert first.iccid == "89445310150011013678"
    assert first.carrier.code == "tmobile"
    assert first.eid == EID
    assert first.activation_code == "1$rsp.example.com$ABC-123$$1"
    assert second.msisdn == "+12125550100"
    assert second.activation_code == "1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815"  # stored without LPA:
    assert second.eid == ""
    assert {first.status, second.status} == {ProfileStatus.AVAILABLE}
    assert first.customer is None


def test_each_bad_row_is_reported_with_its_line_number_and_reason() -> None:
    good = next_iccid()
    lines = [
        HEADER,  # line 1
        f"{good},att,+12125550100,{activation_code_for(good)},",  # 2: good
        "8965880812100011145,att,+12125550100,1$SMDP.EXAMPLE.COM$A1,",  # 3: bad check digit
        "8965880812100011146,sprint,+12125550100,1$SMDP.EXAMPLE.COM$A2,",  # 4: unknown carrier
        "8949440000001155314,att,2125550100,1$SMDP.EXAMPLE.COM$A3,",  # 5: national number
        "8988211000000467343,att,+12125550100,1$SMDP.EXAMPLE.COM$a4,",  # 6: lower-case matching ID
        "8988211320300000028,att,+12125550100,1$SMDP.EXAMPLE.COM$A5,89049032123451234512345678901234",  # 7
        f"{good},att,+12125550100,{activation_code_for(good)},",  # 8: duplicate of line 2
        "8988219000000117833,att,+12125550100",  # 9: too few columns
        "",  # 10: blank, skipped
        ",,,,",  # 11: empty cells, skipped
        "89445310150011013678,,,,",  # 12: several problems at once
    ]

    report = import_profiles_csv("\n".join(lines) + "\n")

    assert report.imported == 1
    assert report.unchanged == 0
    found = {error.line: error for error in report.errors}
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9, 12]
    assert found[3] == ImportRowError(3, "8965880812100011145", found[3].reason)
    assert "Luhn" in found[3].reason
    assert "Unknown carrier 'sprint' (known: att, tmobile, verizon)" in found[4].reason
    assert "international format" in found[5].reason
    assert "upper-case" in found[6].reason
    assert "EID" in found[7].reason
    assert found[8].reason == "Duplicate ICCID: already on line 2 of this file."
    assert found[9].reason == "Expected 5 columns, found 3."
    assert found[9].iccid == "8988219000000117833"
    assert "No carrier" in found[12].reason
    assert "phone number" in found[12].reason
    assert "activation code" in found[12].reason
    assert list(EsimProfile.objects.values_list("iccid", flat=True)) == [good]


def test_line_numbers_count_physical_lines_around_quoted_fields() -> None:
    a, b = next_iccid(), next_iccid()
    text = (
        "iccid,carrier,msisdn,activation_code\r\n"
        f'"{a}",att,"+1 212 555 0100",{activation_code_for(a)}\r\n'
        f"{b},att,+1 212 555 0100,not-a-code\r\n"
    )

    report = import_profiles_csv(text)

    assert report.imported == 1
    assert [(error.line, error.iccid) for error in report.errors] == [(3, b)]


def test_importing_the_same_file_again_changes_nothing() -> None:
    rows = [next_iccid() for _ in range(3)]
    text = HEADER + "\n" + "".join(f"{i},verizon,+12125550100,{activation_code_for(i)},\n" for i in rows)
    text += "8965880812100011145,att,+12125550100,1$SMDP.EXAMPLE.COM$A1,\n"  # line 5 stays bad
    first = import_profiles_csv(text)
    before = _snapshot()

    with CaptureQueriesContext(connection) as queries:
        second = import_profiles_csv(text)

    assert (first.imported, first.unchanged, first.rejected) == (3, 0, 1)
    assert (second.imported, second.unchanged, second.rejected) == (0, 3, 1)
    assert second.errors == first.errors
    assert _snapshot() == before
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert writes == []


def test_a_profile_already_handed_out_with_the_same_data_is_unchanged() -> None:
    profile = make_profile(customer=make_customer(), status=ProfileStatus.ASSIGNED)
    text = f"{HEADER}\n{profile.iccid},att,{profile.msisdn},{profile.activation_code},\n"

    report = import_profiles_csv(text)

    assert (report.imported, report.unchanged, report.errors) == (0, 1, [])
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.ASSIGNED


def test_a_known_iccid_with_different_data_is_refused() -> None:
    profile = make_profile(msisdn="+12125550100")
    text = f"{HEADER}\n{profile.iccid},verizon,+12125550199,{profile.activation_code},\n"

    report = import_profiles_csv(text)

    assert report.imported == 0
    assert report.errors == [
        ImportRowError(2, profile.iccid, "already in inventory with different data (carrier, msisdn).")
    ]
    profile.refresh_from_db()
    assert profile.msisdn == "+12125550100"


def test_columns_may_come_in_any_order_and_eid_is_optional() -> None:
    iccid = next_iccid()
    header = "\ufeffActivation_Code, MSISDN ,carrier,iccid"
    text = f"{header}\n{activation_code_for(iccid)},+12125550100,att,{iccid}\n"

    report = import_profiles_csv(text)

    assert report.imported == 1
    assert EsimProfile.objects.get().iccid == iccid


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "The file is empty", id="empty-file"),
        pytest.param(
            "iccid,carrier,msisdn\n8965880812100011146,att,+12125550100\n",
            "missing activation_code",
            id="missing-column",
        ),
        pytest.param("iccid,carrier,msisdn,activation_code,imsi\n", "unknown 'imsi'", id="unknown-column"),
        pytest.param("iccid,carrier,msisdn,activation_code,iccid\n", "repeated iccid", id="repeated-column"),
        pytest.param(
            "8965880812100011146,att,+12125550100,1$SMDP.EXAMPLE.COM$A1\n",
            "The header must be",
            id="no-header",
        ),
    ],
)
def test_a_wrong_header_imports_nothing(text: str, message: str) -> None:
    with pytest.raises(ImportFileInvalid) as refused:
        import_profiles_csv(text)

    assert message in refused.value.detail
    assert EsimProfile.objects.count() == 0


def test_ten_thousand_rows_take_a_handful_of_queries() -> None:
    iccids = [next_iccid() for _ in range(10_000)]
    text = HEADER + "\n" + "".join(f"{i},att,+12125550100,{activation_code_for(i)},\n" for i in iccids)

    with CaptureQueriesContext(connection) as queries:
        report = import_profiles_csv(text)

    assert (report.imported, report.rejected) == (10_000, 0)
    assert EsimProfile.objects.count() == 10_000
    sql = [q["sql"].lstrip().upper() for q in queries.captured_queries]
    # One query for the ICCIDs already stored, then multi-row inserts (1,000 rows each on
    # PostgreSQL; SQLite's 999-parameter cap makes them ~80 rows each).
    assert len([q for q in sql if q.startswith("SELECT") and "ESIMS_ESIMPROFILE" in q]) == 1
    assert 0 < len([q for q in sql if q.startswith("INSERT")]) <= 10_000 // 50
    assert len(sql) <= 10_000 // 50 + 5
