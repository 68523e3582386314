"""What an invoice's payment bought, named in the language active now (the page's, the email's).

`Invoice.description` is written once, in the catalogue's language, when the invoice is issued:
the record an operator and an auditor read. A customer reads the name of what that payment
bought in their own language, composed when the page or message is shown from the invoice's
own line: the plan of the period it paid for, the pack of the top-up it paid for, else what was
sold at step 1 of the payment (a payment that landed after the subscription ended has no
period). Never from the plan the subscription holds now: a day bought on top of a month is a day.

Billing reads the period and top-up through their reverse relations (`period`, `top_up`), as
values, without importing subscriptions (which depends on billing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext

from simrenew.billing.models import Invoice
from simrenew.catalog.labels import PlanValues, plan_value_paths, top_up_display_name
from simrenew.catalog.models import Plan, TopUpPack
from simrenew.payments.models import AttemptPurpose

# The columns `item_name` reads, for a `values()` query on Invoice (one query, joined).
PERIOD_PLAN = "period__plan__"
ITEM_FIELDS = (
    "description",
    "payment_attempt__purpose",
    "payment_attempt__purpose_data",
    *plan_value_paths(PERIOD_PLAN).values(),
    "top_up__pack__name",
    "top_up__pack__data_mb",
    "top_up__pack__carrier__name",
)


def item_name(row: Mapping[str, Any]) -> str:
    """The name of what the invoice in `row` (its ITEM_FIELDS) bought, in the active language."""
    if row[f"{PERIOD_PLAN}name"] is not None:
        return PlanValues.from_row(row, PERIOD_PLAN).display_name
    if row["top_up__pack__name"] is not None:
        return top_up_display_name(
            name=row["top_up__pack__name"],
            data_mb=row["top_up__pack__data_mb"],
            carrier_name=row["top_up__pack__carrier__name"],
        )
    purpose = row["payment_attempt__purpose"]
    sold = row["payment_attempt__purpose_data"]
    sold = sold if isinstance(sold, dict) else {}
    if purpose == AttemptPurpose.WALLET_TOP_UP:
        return gettext("Wallet top-up")
    # No period or top-up was written (the payment landed after the subscription or its period
    # ended, and was given back): what step 1 sold, one more query in that rare case.
    if purpose == AttemptPurpose.TOP_UP and sold.get("pack_id"):
        pack = TopUpPack.objects.select_related("carrier").filter(pk=sold["pack_id"]).first()
        if pack is not None:
            return top_up_display_name(
                name=str(sold.get("name") or pack.name),
                data_mb=int(sold.get("data_mb") or pack.data_mb),
                carrier_name=pack.carrier.name,
            )
    elif sold.get("plan_id"):
        bought = Plan.objects.select_related("carrier").filter(pk=sold["plan_id"]).first()
        if bought is not None:
            return bought.display_name
    return str(row["description"])


def invoice_item_name(invoice_id: int) -> str:
    """`item_name` of one invoice by its id ("" when there is none)."""
    row = Invoice.objects.filter(pk=invoice_id).values(*ITEM_FIELDS).first()
    return item_name(row) if row is not None else ""
