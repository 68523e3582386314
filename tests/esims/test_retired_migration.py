"""Migration esims 0003 gives "released" its SGP.22 meaning (ready to download): profiles taken out
of service for good before it, which were "released", come out of it "retired" with their time kept,
and going back returns them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import StateApps

from tests.factories import make_carrier

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("migrations_restored")]

BEFORE = [("esims", "0002_alter_esimprofile_options")]
AFTER = [("esims", "0003_smdp_profiles")]


def migrate(targets: list[tuple[str, str]]) -> StateApps:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_released_profiles_become_retired_and_come_back_when_migrating_back(clock):
    carrier = make_carrier()
    old = migrate(BEFORE).get_model("esims", "EsimProfile")
    common = {"carrier_id": carrier.pk, "activation_code": "LPA:1$smdp.example.com$A", "created_at": clock.now()}
    gone = old.objects.create(
        iccid="8901260000000000001", msisdn="+12025550101", status="released", released_at=clock.now(), **common
    )
    kept = old.objects.create(iccid="8901260000000000019", msisdn="+12025550102", status="available", **common)

    new = migrate(AFTER).get_model("esims", "EsimProfile")
    assert new.objects.get(pk=gone.pk).status == "retired"
    assert new.objects.get(pk=gone.pk).retired_at == clock.now()
    assert (new.objects.get(pk=kept.pk).status, new.objects.get(pk=kept.pk).source) == ("available", "inventory")

    old = migrate(BEFORE).get_model("esims", "EsimProfile")
    assert (old.objects.get(pk=gone.pk).status, old.objects.get(pk=gone.pk).released_at) == ("released", clock.now())
    migrate(AFTER)
