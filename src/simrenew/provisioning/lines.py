"""Lines at the carrier's network: each service change of a subscription becomes a TMF641 order.

`on_service_changes` is the listener subscriptions calls (`service_changes.announce`) inside the
transaction that changes the service: it writes one `LineOrder` per change into the network outbox
(the worker sends them after the commit, `line_orders`), numbered per line with the line rows
locked, so a restore never overtakes the suspension before it. A rollback drops the orders with
the change. Built for batches: 10,000 suspensions in one worker run cost a handful of queries per
batch, not per line.

How a change reads at the network (issue 16):
- start: `add` + active on a new (or terminated) line; `modify` active + plan on a line that exists;
- suspend, stop: `modify` inactive;  restore: `modify` active (+ plan when it changed);
- change_plan: `modify` + plan, sent when the new period starts (`not_before`);
- terminate: `delete`.
A change_plan not yet sent is superseded by a later stop or terminate of the same line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simrenew.esims.models import EsimProfile, NetworkState
from simrenew.kit import clock, crypto, rows
from simrenew.provisioning import tmf641
from simrenew.provisioning.models import (
    Line,
    LineChange,
    LineOrder,
    LineOrderStatus,
    LineState,
    PortRequest,
    PortStatus,
)
from simrenew.subscriptions.service_changes import ServiceChange, ServiceChangeKind


@dataclass(frozen=True, slots=True)
class _Shape:
    action: tmf641.Action
    target_state: tmf641.TargetState | None
    plan_code: str | None
    not_before: datetime | None


def external_id(line_id: int, sequence: int, retry_round: int = 0) -> str:
    """Unique to one change of one line (and to an operator's retry round of it): the carrier's
    key for "the same order", so every resend of it reuses it."""
    base = f"simrenew-{line_id}-{sequence}"
    return f"{base}-r{retry_round}" if retry_round else base


def _lines_locked(esim_ids: set[int], now: datetime) -> dict[int, Line]:
    """Each eSIM's line, created when missing, with its row locked until the caller commits
    (the sequences taken below stay in order across concurrent writers)."""
    found = {
        line.esim_id: line
        for line in Line.objects.select_for_update(of=("self",)).select_related("esim").filter(esim_id__in=esim_ids)
    }
    missing = esim_ids - found.keys()
    if missing:
        esims = EsimProfile.objects.filter(pk__in=missing).only("pk", "carrier_id")
        Line.objects.bulk_create(
            [Line(esim_id=esim.pk, carrier_id=esim.carrier_id, created_at=now) for esim in esims],
            ignore_conflicts=True,  # another transaction made it first: take that one below
        )
        found.update(
            {
                line.esim_id: line
                for line in Line.objects.select_for_update(of=("self",))
                .select_related("esim")
                .filter(esim_id__in=missing)
            }
        )
    return found


def _shape(change: ServiceChange, *, exists: bool, intended_plan: str) -> tuple[LineChange, _Shape]:
    kind = change.kind
    if kind == ServiceChangeKind.START:
        if exists:
            return LineChange.START, _Shape("modify", "active", change.plan_code, None)
        return LineChange.START, _Shape("add", "active", change.plan_code, None)
    if kind == ServiceChangeKind.SUSPEND:
        return LineChange.SUSPEND, _Shape("modify", "inactive", None, None)
    if kind == ServiceChangeKind.STOP:
        return LineChange.STOP, _Shape("modify", "inactive", None, None)
    if kind == ServiceChangeKind.RESTORE:
        plan = change.plan_code if change.plan_code and change.plan_code != intended_plan else None
        return LineChange.RESTORE, _Shape("modify", "active", plan, None)
    if kind == ServiceChangeKind.CHANGE_PLAN:
        return LineChange.CHANGE_PLAN, _Shape("modify", None, change.plan_code, change.effective_at)
    if kind == ServiceChangeKind.TERMINATE:
        return LineChange.TERMINATE, _Shape("delete", None, None, None)
    raise ValueError(f"Unknown service change {kind!r}.")


def _port_in(port: PortRequest) -> tmf641.PortIn:
    return tmf641.PortIn(msisdn=port.msisdn, account=crypto.decrypt(port.account_number), pin=crypto.decrypt(port.pin))


def on_service_changes(changes: Sequence[ServiceChange]) -> None:
    """Write one LineOrder per change, in the caller's transaction (changes of one eSIM in the
    order given)."""
    if not changes:
        return
    now = clock.now()
    due = clock.system_now()  # sending is timed on the system clock (a test clock never holds it back)
    lines = _lines_locked({change.esim_id for change in changes}, now)
    starts = {c.esim_id for c in changes if c.kind == ServiceChangeKind.START}
    ports: dict[int, PortRequest] = {}
    if starts:
        # A keep-my-number request waiting for its line: the `add` carries it (plan §d Porting).
        for waiting in PortRequest.objects.filter(new_esim_id__in=starts, status=PortStatus.REQUESTED).order_by("pk"):
            ports[waiting.new_esim_id] = waiting
    orders: list[LineOrder] = []
    stopping: set[int] = set()  # lines whose unsent plan changes a later stop/terminate makes pointless
    exists: dict[int, bool] = {}
    intended_plan: dict[int, str] = {}
    by_line: dict[int, list[LineOrder]] = defaultdict(list)
    ordered_ports: list[PortRequest] = []
    for change in changes:
        line = lines[change.esim_id]
        esim = line.esim
        if line.pk not in exists:
            exists[line.pk] = line.last_sequence > 0 and line.state != LineState.TERMINATED
            intended_plan[line.pk] = line.plan_code
        kind, shape = _shape(change, exists=exists[line.pk], intended_plan=intended_plan[line.pk])
        if kind in (LineChange.STOP, LineChange.TERMINATE):
            stopping.add(line.pk)
            for earlier in by_line[line.pk]:
                if earlier.change == LineChange.CHANGE_PLAN and earlier.status == LineOrderStatus.QUEUED:
                    earlier.status = LineOrderStatus.SUPERSEDED
        line.last_sequence += 1
        port: PortRequest | None = ports.pop(change.esim_id, None) if shape.action == "add" else None
        request = tmf641.LineChangeOrder(
            external_id=external_id(line.pk, line.last_sequence),
            action=shape.action,
            iccid=esim.iccid,
            target_state=shape.target_state,
            msisdn=esim.msisdn or None,
            plan_code=shape.plan_code,
            service_id=line.service_id or None,
            requested_start=shape.not_before,
            port=None if port is None else _port_in(port),
        )
        order = LineOrder(
            line_id=line.pk,
            sequence=line.last_sequence,
            change=kind,
            action=shape.action,
            target_state=shape.target_state or "",
            plan_code=shape.plan_code or "",
            external_id=request.external_id,
            body=tmf641.redacted(tmf641.order_body(request)),  # the PIN is put back at send time only
            port=port,
            status=LineOrderStatus.QUEUED,
            not_before=shape.not_before,
            next_attempt_at=due,
            created_at=now,
        )
        if port is not None:
            ordered_ports.append(port)
        orders.append(order)
        by_line[line.pk].append(order)
        exists[line.pk] = shape.action != "delete"
        if shape.plan_code:
            intended_plan[line.pk] = shape.plan_code
    if stopping:
        LineOrder.objects.filter(
            line_id__in=stopping, change=LineChange.CHANGE_PLAN, status=LineOrderStatus.QUEUED, attempts=0
        ).update(status=LineOrderStatus.SUPERSEDED)
    touched = [lines[esim_id] for esim_id in {c.esim_id for c in changes}]
    rows.update_many(Line, ("last_sequence",), [(line.last_sequence, line.pk) for line in touched])
    LineOrder.objects.bulk_create(orders)
    if ordered_ports:
        PortRequest.objects.filter(pk__in=[p.pk for p in ordered_ports]).update(status=PortStatus.ORDERED)
    EsimProfile.objects.filter(pk__in=[line.esim_id for line in touched]).update(network_state=NetworkState.PENDING)


def _queue_one(line: Line, change: LineChange, *, iccid: str, **request: Any) -> LineOrder:
    """One more order for a locked line, outside the batch path (rare: a port refused, a swap)."""
    line.last_sequence += 1
    line.save(update_fields=["esim", "last_sequence"])
    order = tmf641.LineChangeOrder(external_id=external_id(line.pk, line.last_sequence), iccid=iccid, **request)
    EsimProfile.objects.filter(pk=line.esim_id).update(network_state=NetworkState.PENDING)
    return LineOrder.objects.create(
        line_id=line.pk,
        sequence=line.last_sequence,
        change=change,
        action=order.action,
        target_state=order.target_state or "",
        plan_code=order.plan_code or "",
        external_id=order.external_id,
        body=tmf641.order_body(order),
        status=LineOrderStatus.QUEUED,
        next_attempt_at=clock.system_now(),
        created_at=clock.now(),
    )


def order_again_without_port(failed_order_id: int) -> LineOrder:
    """A new line's `add` whose number port the carrier refused: the same `add` again, without the
    port, so the eSIM gets a number of its own (the customer was told why the port failed). Runs
    inside the caller's transaction."""
    failed = LineOrder.objects.get(pk=failed_order_id)
    line = Line.objects.select_for_update().select_related("esim").get(pk=failed.line_id)
    return _queue_one(
        line,
        LineChange.START,
        iccid=line.esim.iccid,
        action="add",
        target_state="active",
        msisdn=None,
        plan_code=failed.plan_code or None,
        service_id=None,
        requested_start=None,
        port=None,
    )


def swap_esim(old: EsimProfile, new: EsimProfile) -> LineOrder | None:
    """A replacement eSIM takes over the old one's line (its number and service at the carrier): the
    line now belongs to `new`, and one `modify` order tells the carrier the line's new ICCID (plan
    §h, H11). None when the old eSIM never had a line, or its line is gone. Runs inside the caller's
    transaction."""
    line = Line.objects.select_for_update().filter(esim=old).first()
    if line is None or line.state == LineState.TERMINATED:
        return None
    line.esim = new
    EsimProfile.objects.filter(pk=old.pk).update(network_state="")
    return _queue_one(
        line,
        LineChange.SWAP,
        iccid=new.iccid,
        action="modify",
        target_state=None,
        msisdn=new.msisdn or old.msisdn or None,
        plan_code=None,
        service_id=line.service_id or None,
        requested_start=None,
        port=None,
    )
