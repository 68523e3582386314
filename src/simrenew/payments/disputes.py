"""Disputes: a payment the cardholder (or PayPal buyer) contested. The providers' webhooks open and
close them (`provider_events`); finance answers with evidence before the deadline. The period the
payment bought stays paid: taking it back is the operator's decision, made with the usual actions.

`record_evidence` keeps finance's note (a service: the caller's transaction, audited);
`send_evidence` gives it to the provider (an edge helper: the provider is called outside any
transaction, then the dispute says it was sent). Stripe takes evidence through its API
(`uncategorized_text`, submitted at once); PayPal's evidence is given in its Resolution Center,
so there the note is kept for the record and the operator is told where to send it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from simrenew.kit import clock
from simrenew.kit.audit import record_change
from simrenew.kit.errors import Conflict, ValidationFailed
from simrenew.payments.gateway import gateway_named
from simrenew.payments.models import OPEN_DISPUTE_STATUSES, Dispute, DisputeStatus

MAX_EVIDENCE = 20_000  # Stripe's limit for uncategorized_text is 20,000 characters


def record_evidence(dispute: Dispute, *, note: str, actor: Any) -> Dispute:
    note = note.strip()
    if not note:
        raise ValidationFailed.on("evidence_note", "Write the evidence: what was sold, and why the payment is right.")
    if len(note) > MAX_EVIDENCE:
        raise ValidationFailed.on("evidence_note", f"The evidence may be {MAX_EVIDENCE:,} characters at most.")
    locked = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if locked.status not in OPEN_DISPUTE_STATUSES:
        raise Conflict(f"This dispute is closed ({locked.get_status_display()}): it takes no more evidence.")
    before = locked.evidence_note
    locked.evidence_note = note
    locked.save(update_fields=["evidence_note"])
    record_change(
        actor=actor,
        action="dispute_evidence",
        target=locked,
        before={"evidence_note": before},
        after={"evidence_note": note},
        customer_id=locked.attempt.customer_id,
    )
    return locked


def send_evidence(dispute: Dispute) -> bool:
    """Give the note to the provider; True if the provider took it (Stripe), False if the operator
    must send it themselves (PayPal). Raises what the provider's refusal or silence raises."""
    if dispute.gateway != "stripe":
        return False
    gateway: Any = gateway_named("stripe")
    gateway.submit_dispute_evidence(dispute.external_id, dispute.evidence_note)
    with transaction.atomic():
        Dispute.objects.filter(pk=dispute.pk, status=DisputeStatus.OPEN).update(
            status=DisputeStatus.UNDER_REVIEW, evidence_sent_at=clock.now()
        )
    return True
