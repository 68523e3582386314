from __future__ import annotations

from django.db import models


class TestMessage(models.Model):
    """The sandbox carrier's ledger of test SMS: what a real carrier keeps on its
    side. Delivery is simulated from `sent_at` and the (test) clock."""

    __test__ = False  # not a pytest class, whatever its name

    message_id = models.CharField(max_length=40, unique=True)
    msisdn = models.CharField(max_length=16, help_text="E.164")
    text = models.CharField(max_length=320)
    status = models.CharField(
        max_length=10, default="queued", help_text="Last status reported: queued, delivered, failed."
    )
    sent_at = models.DateTimeField()
    status_changed_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["msisdn", "sent_at"], name="testmessage_msisdn_sent")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "delivered", "failed"]), name="testmessage_status_known"
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_id} to {self.msisdn} ({self.status})"


class ConnectionCheck(models.Model):
    """A test SMS a customer sent to one of their eSIMs ("check my connection"), kept on our side
    whatever carrier sent it: the rows the check's limits count (provisioning.connection_checks)."""

    esim = models.ForeignKey("esims.EsimProfile", on_delete=models.CASCADE, related_name="connection_checks")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="connection_checks")
    message_id = models.CharField(max_length=64, help_text="The carrier's id for the message.")
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["esim", "sent_at"], name="conncheck_esim_sent"),
            models.Index(fields=["customer", "sent_at"], name="conncheck_customer_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} to eSIM {self.esim_id} at {self.sent_at:%Y-%m-%d %H:%M}"


# --- The eSIM world (issue 16): SM-DP+ over ES2+, the carrier's network over TMF641, number porting ---


class SmdpConnection(models.Model):
    """A carrier whose eSIMs are ordered from an SM-DP+ over ES2+ rather than imported from a CSV.
    Secrets are files on the server; only their paths are stored."""

    carrier = models.OneToOneField("catalog.Carrier", on_delete=models.CASCADE, related_name="smdp")
    base_url = models.CharField(
        max_length=300, help_text="The SM-DP+'s ES2+ base URL (the function paths are appended); sandbox: in sandbox."
    )
    requester_id = models.CharField(max_length=64, help_text="Our functionRequesterIdentifier.")
    smdp_id = models.CharField(
        max_length=64, db_index=True, help_text="The functionRequesterIdentifier the SM-DP+ uses when it calls us."
    )
    profile_type = models.CharField(max_length=64, help_text="The profile type ordered for this carrier.")
    ca_cert_path = models.CharField(max_length=500, blank=True, help_text="CA bundle that signs the SM-DP+'s cert.")
    client_cert_path = models.CharField(
        max_length=500, blank=True, help_text="Our client certificate (may hold the key)."
    )
    client_key_path = models.CharField(max_length=500, blank=True, help_text="Our client key, if not in the cert file.")
    client_subject = models.CharField(
        max_length=300, blank=True, help_text="The SM-DP+'s client certificate subject the proxy must have verified."
    )
    timeout_seconds = models.FloatField(default=10.0)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "SM-DP+ connection"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.carrier_id}: {self.base_url}"


class ProfileOrderStatus(models.TextChoices):
    ORDERING = "ordering", "ordering"  # DownloadOrder/ConfirmOrder under way
    DONE = "done", "done"  # confirmed; the eSIM exists
    REFUSED = "refused", "refused"  # the SM-DP+ answered Failed; nothing reserved
    UNREACHABLE = "unreachable", "unreachable"  # no answer and nothing known to be reserved
    CANCELLING = "cancelling", "cancelling"  # a reserved profile must be given back (CancelOrder)
    CANCELLED = "cancelled", "cancelled"
    LOST = "lost", "lost"  # something may be reserved that we cannot name: an operator looks


class ProfileOrder(models.Model):
    """One attempt to obtain a profile from an SM-DP+: the durable trace that lets the worker finish
    or undo a DownloadOrder whose ConfirmOrder never happened."""

    carrier = models.ForeignKey("catalog.Carrier", on_delete=models.PROTECT, related_name="profile_orders")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="profile_orders")
    esim = models.ForeignKey(
        "esims.EsimProfile", on_delete=models.PROTECT, null=True, blank=True, related_name="profile_orders"
    )
    eid = models.CharField(max_length=32, blank=True)
    profile_type = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=ProfileOrderStatus.choices, default=ProfileOrderStatus.ORDERING)
    iccid = models.CharField(max_length=20, blank=True, help_text="Canonical digits.")
    iccid_wire = models.CharField(max_length=20, blank=True, help_text="As the SM-DP+ wrote it (echoed back).")
    matching_id = models.CharField(max_length=64, blank=True)
    smdp_address = models.CharField(max_length=255, blank=True)
    call_ids = models.JSONField(default=list, help_text="functionCallIdentifiers used, in order.")
    subject_code = models.CharField(max_length=16, blank=True)
    reason_code = models.CharField(max_length=16, blank=True)
    message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="profileorder_status_due")]

    def __str__(self) -> str:
        return f"profile order {self.pk} ({self.status})"


class DownloadProgress(models.Model):
    """One HandleDownloadProgressInfo notification from an SM-DP+, recorded once per call."""

    esim = models.ForeignKey(
        "esims.EsimProfile", on_delete=models.CASCADE, null=True, blank=True, related_name="download_progress"
    )
    iccid = models.CharField(max_length=20)
    point = models.PositiveSmallIntegerField(
        help_text="notificationPointId: 1 eligibility, 2 confirmation, 3 download, 4 installation."
    )
    status = models.CharField(max_length=24, help_text="notificationPointStatus.status")
    subject_code = models.CharField(max_length=16, blank=True)
    reason_code = models.CharField(max_length=16, blank=True)
    message = models.CharField(max_length=500, blank=True)
    eid = models.CharField(max_length=32, blank=True)
    profile_type = models.CharField(max_length=64, blank=True)
    reported_at = models.DateTimeField(help_text="The SM-DP+'s timestamp.")
    received_at = models.DateTimeField()
    call_id = models.CharField(max_length=128)

    class Meta:
        verbose_name_plural = "download progress"
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["iccid", "call_id"], name="downloadprogress_once_per_call")]
        indexes = [models.Index(fields=["esim", "point"], name="downloadprogress_esim_point")]

    def __str__(self) -> str:
        return f"{self.iccid} point {self.point}: {self.status}"


class NetworkConnection(models.Model):
    """A carrier whose lines are switched through its TMF641 Service Ordering API."""

    carrier = models.OneToOneField("catalog.Carrier", on_delete=models.CASCADE, related_name="network")
    base_url = models.CharField(max_length=300, help_text="Ends in /tmf-api/serviceOrdering/v4.")
    token = models.CharField(max_length=500, blank=True, help_text="Bearer token, encrypted (kit.crypto).")
    hub_id = models.CharField(max_length=128, blank=True, help_text="Our event subscription at the carrier's hub.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "network connection"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.carrier_id}: {self.base_url}"


class LineState(models.TextChoices):
    NONE = "none", "none"
    ACTIVE = "active", "active"
    INACTIVE = "inactive", "inactive"
    TERMINATED = "terminated", "terminated"


class Line(models.Model):
    """An eSIM's service at the carrier's network, as last confirmed by a completed order. Its orders
    are numbered so that they reach the carrier in the order the changes happened."""

    esim = models.OneToOneField("esims.EsimProfile", on_delete=models.PROTECT, related_name="line")
    carrier = models.ForeignKey("catalog.Carrier", on_delete=models.PROTECT, related_name="lines")
    service_id = models.CharField(max_length=128, blank=True, help_text="The carrier's service id, once added.")
    state = models.CharField(max_length=12, choices=LineState.choices, default=LineState.NONE)
    plan_code = models.CharField(max_length=64, blank=True)
    last_sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"line of eSIM {self.esim_id} ({self.state})"


class LineChange(models.TextChoices):
    START = "start", "start"
    SUSPEND = "suspend", "suspend"
    RESTORE = "restore", "restore"
    CHANGE_PLAN = "change_plan", "change plan"
    STOP = "stop", "stop"
    TERMINATE = "terminate", "terminate"
    SWAP = "swap", "swap"


class LineOrderStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    SENDING = "sending", "sending"  # sent at least once with no answer we could read: look it up first
    IN_PROGRESS = "in_progress", "in progress"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"
    REJECTED = "rejected", "rejected"
    RESOLVED = "resolved", "resolved"  # an operator settled a failed order by hand
    SUPERSEDED = "superseded", "superseded"  # a later change made it pointless before it was sent


LINE_ORDER_OPEN_STATUSES = ("queued", "sending", "in_progress")


class LineOrder(models.Model):
    """The network outbox: one TMF641 service order per change of a line, sent by the worker after the
    change commits, in sequence per line, exactly once per change (its externalId)."""

    line = models.ForeignKey(Line, on_delete=models.PROTECT, related_name="orders")
    sequence = models.PositiveIntegerField()
    change = models.CharField(max_length=12, choices=LineChange.choices)
    action = models.CharField(max_length=8, help_text="TMF641 action: add, modify, delete.")
    target_state = models.CharField(max_length=12, blank=True)
    plan_code = models.CharField(max_length=64, blank=True)
    external_id = models.CharField(max_length=100, unique=True)
    body = models.JSONField(help_text="The ServiceOrder_Create sent, without any port-out PIN.")
    port = models.ForeignKey("PortRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="orders")
    status = models.CharField(max_length=12, choices=LineOrderStatus.choices, default=LineOrderStatus.QUEUED)
    carrier_order_id = models.CharField(max_length=128, blank=True)
    carrier_state = models.CharField(max_length=24, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    retry_round = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Not sent before this (project clock).")
    next_attempt_at = models.DateTimeField()
    claimed_by = models.CharField(max_length=64, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    error_detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["line", "sequence"], name="lineorder_sequence_per_line"),
            models.CheckConstraint(
                condition=models.Q(action__in=["add", "modify", "delete"]), name="lineorder_action_known"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                name="lineorder_open_due",
                condition=models.Q(status__in=LINE_ORDER_OPEN_STATUSES),
            ),
            models.Index(fields=["line", "sequence"], name="lineorder_line_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.status})"


class PortStatus(models.TextChoices):
    REQUESTED = "requested", "requested"
    ORDERED = "ordered", "ordered"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"


class PortRequest(models.Model):
    """A customer's wish to keep their number on a new eSIM. The old carrier's account number and
    port-out PIN are encrypted and emptied once the port is over, whichever way it ended."""

    new_esim = models.ForeignKey("esims.EsimProfile", on_delete=models.PROTECT, related_name="port_requests")
    old_subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.SET_NULL, null=True, blank=True, related_name="port_requests"
    )
    msisdn = models.CharField(max_length=16, help_text="E.164: the number being moved.")
    account_number = models.CharField(max_length=500, blank=True, help_text="Encrypted (kit.crypto).")
    pin = models.CharField(max_length=500, blank=True, help_text="Encrypted (kit.crypto).")
    status = models.CharField(max_length=10, choices=PortStatus.choices, default=PortStatus.REQUESTED)
    failure_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["requested", "ordered"]) | models.Q(account_number="", pin=""),
                name="portrequest_secrets_gone_after_port",
            )
        ]

    def __str__(self) -> str:
        return f"port of {self.msisdn} ({self.status})"


class SandboxProfile(models.Model):
    """The sandbox SM-DP+'s own ledger of profiles: what a real SM-DP+ keeps on its side."""

    iccid = models.CharField(max_length=20, unique=True)
    profile_type = models.CharField(max_length=64)
    state = models.CharField(max_length=12, default="available")
    eid = models.CharField(max_length=32, blank=True)
    matching_id = models.CharField(max_length=64, blank=True)
    answers = models.JSONField(default=dict, help_text="functionCallIdentifier → the answer given.")
    next_point = models.PositiveSmallIntegerField(default=0)
    next_point_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["next_point_at"], name="sandboxprofile_next_point")]

    def __str__(self) -> str:
        return f"{self.iccid} ({self.state})"


class SandboxServiceOrder(models.Model):
    """The sandbox network's own ledger of TMF641 service orders."""

    external_id = models.CharField(max_length=100, unique=True)
    order_id = models.CharField(max_length=64, unique=True)
    body = models.JSONField()
    state = models.CharField(max_length=16, default="acknowledged")
    completes_at = models.DateTimeField(null=True, blank=True)
    msisdn = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.state})"
