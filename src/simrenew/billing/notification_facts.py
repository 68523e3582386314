"""What a notice says about the invoice it names (a receipt's amount, link and what it bought,
named in the reader's language: `billing.items`).

Notifications render the events billing writes to the outbox but do not import billing (the
arrow points from billing to notifications); this lookup is registered with
`notifications.facts` when the app is ready. One query, run once per delivery by the worker.
"""

from __future__ import annotations

from simrenew.billing.items import ITEM_FIELDS, item_name
from simrenew.billing.models import Invoice
from simrenew.notifications.facts import InvoiceFacts, register_invoice_lookup


def invoice_facts(number: str) -> InvoiceFacts | None:
    """Rendering runs this under the reader's language: `item` names what was bought in it."""
    row = Invoice.objects.filter(number=number).values("id", "total_minor", "currency", *ITEM_FIELDS).first()
    if row is None:
        return None
    return InvoiceFacts(
        id=row["id"],
        total_minor=row["total_minor"],
        currency=row["currency"],
        description=row["description"],
        item=item_name(row),
    )


def register() -> None:
    register_invoice_lookup(invoice_facts)
