"""eSIM-specific factories on top of tests/factories.py (keyword-only, one line to arrange)."""

from __future__ import annotations

from simrenew.catalog.models import Carrier
from simrenew.customers.models import Customer
from simrenew.esims.models import EsimProfile, ProfileStatus
from simrenew.kit import clock
from tests.factories import make_carrier, valid_iccid


def activation_code_for(iccid: str) -> str:
    """A valid SGP.22 activation code, distinct per ICCID."""
    return f"1$SMDP.EXAMPLE.COM${iccid[-10:]}-TEST"


def make_profile(
    *,
    carrier: Carrier | None = None,
    iccid: str | None = None,
    msisdn: str = "+12125550100",
    activation_code: str | None = None,
    eid: str = "",
    status: str = ProfileStatus.AVAILABLE,
    customer: Customer | None = None,
) -> EsimProfile:
    iccid = iccid or valid_iccid()
    return EsimProfile.objects.create(
        carrier=carrier or make_carrier(),
        iccid=iccid,
        msisdn=msisdn,
        activation_code=activation_code or activation_code_for(iccid),
        eid=eid,
        status=status,
        customer=customer,
        assigned_at=clock.now() if customer is not None else None,
        created_at=clock.now(),
    )
