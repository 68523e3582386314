"""The demo catalog and inventory that `simrenew demo` seeds (idempotent).

CLI code, beside its command: it fills several domains (plans in catalog, profiles in esims)."""

from __future__ import annotations

from dataclasses import dataclass

from stdnum import luhn

from simrenew.catalog.models import Carrier, Plan, Promotion, TopUpPack
from simrenew.catalog.services import create_plan
from simrenew.esims.models import EsimProfile
from simrenew.kit import clock

CARRIERS = {"att": "AT&T", "tmobile": "T-Mobile", "verizon": "Verizon"}
# Issuer prefixes for the demo ICCIDs (89 = telecom, 01 = US, then an issuer code).
ICCID_ISSUERS = {"att": "8901410", "tmobile": "8901260", "verizon": "8914800"}


@dataclass(frozen=True)
class DemoPlan:
    suffix: str
    label: str
    period_unit: str
    period_count: int
    data_mb: int
    price_minor: int


PLANS = (
    DemoPlan("1d", "1 day · 1 GB", "day", 1, 1024, 300),
    DemoPlan("7d", "7 days · 5 GB", "day", 7, 5 * 1024, 1500),
    DemoPlan("1m", "1 month · 20 GB", "month", 1, 20 * 1024, 3500),
    DemoPlan("1y", "1 year · 250 GB", "year", 1, 250 * 1024, 34900),
)
TOP_UPS = ((1024, 500), (5 * 1024, 2000))
PROFILES_PER_CARRIER = 50


def demo_iccid(carrier: str, serial: int) -> str:
    body = f"{ICCID_ISSUERS[carrier]}{serial:011d}"
    return body + luhn.calc_check_digit(body)


def seed_catalog() -> dict[str, int]:
    """Create what is missing; never touches what exists. Returns counts created."""
    created = {"carriers": 0, "plans": 0, "top_up_packs": 0, "profiles": 0, "promotions": 0}
    now = clock.now()
    for index, (code, name) in enumerate(CARRIERS.items()):
        carrier, made = Carrier.objects.get_or_create(code=code, defaults={"name": name})
        created["carriers"] += made
        for plan in PLANS:
            plan_code = f"{code}-{plan.suffix}"
            if not Plan.objects.filter(code=plan_code).exists():
                create_plan(
                    carrier=carrier,
                    code=plan_code,
                    name=f"{name} {plan.label}",
                    period_unit=plan.period_unit,
                    period_count=plan.period_count,
                    data_mb=plan.data_mb,
                    price_minor=plan.price_minor,
                )
                created["plans"] += 1
        for data_mb, price_minor in TOP_UPS:
            _, made = TopUpPack.objects.get_or_create(
                carrier=carrier,
                data_mb=data_mb,
                defaults={"name": f"{name} +{data_mb // 1024} GB", "price_minor": price_minor},
            )
            created["top_up_packs"] += made
        wanted = [demo_iccid(code, serial) for serial in range(1, PROFILES_PER_CARRIER + 1)]
        existing = set(EsimProfile.objects.filter(iccid__in=wanted).values_list("iccid", flat=True))
        new_profiles = [
            EsimProfile(
                carrier=carrier,
                iccid=iccid,
                msisdn=f"+1201555{index}{serial:03d}",
                activation_code=f"1$smdp.sandbox.simrenew.dev${code.upper()}-{serial:06d}",
                created_at=now,
            )
            for serial, iccid in enumerate(wanted, start=1)
            if iccid not in existing
        ]
        EsimProfile.objects.bulk_create(new_profiles)
        created["profiles"] += len(new_profiles)
    if not Promotion.objects.filter(code__iexact="WELCOME10").exists():
        Promotion.objects.create(
            code="WELCOME10",
            description="10 % off your first plan",
            percent_off=10,
            max_per_customer=1,
            is_public=True,  # listed on the help page and the plan picker
            created_at=now,
        )
        created["promotions"] += 1
    return created
