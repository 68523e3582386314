"""eSIM profiles: assign one from inventory to a customer, show how to install it, what it has left,
what can be bought for it and what was (the reads Airalo partners expect)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from simrenew.api.idempotency import idempotent
from simrenew.api.pagination import Page, paginate
from simrenew.api.routers.common import Text, customer_or_404
from simrenew.api.schemas import ID_MAX, InputSchema, PageQuery
from simrenew.catalog.models import Carrier
from simrenew.catalog.queries import plans_on_sale, top_up_packs_on_sale
from simrenew.esims import services
from simrenew.esims.identifiers import ios_install_url, lpa_qr_payload, validate_eid
from simrenew.esims.models import USABLE_STATUSES, EsimProfile, ProfileSource, ProfileStatus
from simrenew.esims.queries import install_instructions
from simrenew.esims.views import qr_png_url, qr_svg_url
from simrenew.kit import clock
from simrenew.kit.errors import NotFound, ValidationFailed
from simrenew.provisioning import profiles
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.queries import (
    MB,
    current_period,
    future_periods,
    period_phase,
    periods_of_esim,
    subscription_of_esim,
)
from simrenew.subscriptions.renewals import MAX_PREPAID_PERIODS
from simrenew.subscriptions.status import in_service
from simrenew.usage.queries import esim_usage

router = Router(tags=["esims"])

NetworkStateOut = Literal["active", "inactive", "terminated", "pending"]
EsimId = Annotated[int, Path(ge=1, le=ID_MAX, description="The eSIM's id.")]
# Only a profile in a customer's hands has a QR code (its link is signed for that customer).
_WITH_QR = USABLE_STATUSES


class EsimIn(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"customer_id": 7, "carrier": "att"}]})

    customer_id: int = Field(..., ge=1, le=ID_MAX)
    carrier: Text = Field(..., max_length=32, description="Carrier code, e.g. att, tmobile, verizon.")
    eid: Text | None = Field(
        None,
        max_length=64,
        description="The phone's EID (32 digits), when known: a carrier connected to an SM-DP+ binds the "
        "profile to that eSIM chip. Ignored for eSIMs from inventory.",
    )


class EsimOut(Schema):
    id: int
    customer_id: int | None
    carrier: str = Field(..., description="Carrier code.")
    iccid: str
    eid: str | None
    msisdn: str | None = Field(
        ..., description="E.164; null until the carrier gives the number of an eSIM ordered from its SM-DP+."
    )
    activation_code: str = Field(..., description="SGP.22: 1$<SM-DP+ address>$<Matching ID>.")
    lpa_string: str = Field(..., description="What the QR code holds: LPA: followed by the activation code.")
    qr_svg_url: str | None = Field(
        ..., description="The activation QR code (SVG); no API key needed. A signed link valid for 24 hours."
    )
    qr_png_url: str | None = Field(..., description="The same QR code as PNG.")
    ios_install_url: str = Field(..., description="Apple's direct-install link (iOS 17.4 and later).")
    status: ProfileStatus = Field(
        ...,
        description="Inventory eSIMs: available, reserved, assigned, installed, retired. eSIMs ordered from an "
        "SM-DP+: released (ready to download), installed, download_failed, cancelled (the order was cancelled "
        "before installation).",
    )
    source: ProfileSource = Field(..., description="inventory (imported) or smdp (ordered over GSMA ES2+).")
    network_state: NetworkStateOut | None = Field(
        ...,
        description="The line at the carrier's network: active, inactive, terminated, or pending while a "
        "service order is in flight; null when no line was ordered yet.",
    )

    @staticmethod
    def resolve_msisdn(profile: EsimProfile) -> str | None:
        return profile.msisdn or None

    @staticmethod
    def resolve_network_state(profile: EsimProfile) -> str | None:
        return profile.network_state or None

    @staticmethod
    def resolve_carrier(profile: EsimProfile) -> str:
        return profile.carrier.code

    @staticmethod
    def resolve_eid(profile: EsimProfile) -> str | None:
        return profile.eid or None

    @staticmethod
    def resolve_lpa_string(profile: EsimProfile) -> str:
        return lpa_qr_payload(profile.activation_code)

    @staticmethod
    def resolve_qr_svg_url(profile: EsimProfile) -> str | None:
        return qr_svg_url(profile) if profile.status in _WITH_QR else None

    @staticmethod
    def resolve_qr_png_url(profile: EsimProfile) -> str | None:
        return qr_png_url(profile) if profile.status in _WITH_QR else None

    @staticmethod
    def resolve_ios_install_url(profile: EsimProfile) -> str:
        return ios_install_url(profile.activation_code)


class EsimList(Schema):
    items: list[EsimOut]
    has_more: bool
    next_starting_after: int | None


class EsimQuery(PageQuery):
    customer_id: int | None = Field(None, ge=1, le=ID_MAX, description="Only this customer's eSIMs.")
    carrier: Text | None = Field(None, max_length=32, description="Only this carrier's (its code).")
    status: ProfileStatus | None = Field(None, description="Only eSIMs in this state.")
    iccid: Text | None = Field(None, max_length=32, description="Only the eSIM with this ICCID (spaces ignored).")


def _profile(esim_id: int) -> EsimProfile:
    profile = EsimProfile.objects.select_related("carrier").filter(pk=esim_id).first()
    if profile is None:
        raise NotFound(f"No eSIM with id {esim_id}.")
    return profile


def _carrier_code(value: str) -> str:
    code = value.strip().lower()
    if not Carrier.objects.filter(code=code).exists():
        known = ", ".join(Carrier.objects.order_by("code").values_list("code", flat=True)) or "none yet"
        raise ValidationFailed.on("carrier", f"Unknown carrier {value!r}; known carriers: {known}.")
    return code


@router.post("", response={201: EsimOut}, summary="Give a customer an eSIM of a carrier")
@idempotent()
def create_esim(request: HttpRequest, payload: EsimIn) -> Status:
    """Assigns an available profile from inventory, or, for a carrier connected to an SM-DP+, orders
    one over GSMA ES2+ (DownloadOrder and ConfirmOrder) and answers with it `released`, ready to
    download. 409 when there is none to give (the SM-DP+'s reason in `detail` and `code`); 503 with
    `Retry-After` when the SM-DP+ does not answer (nothing was created: send the same request again).
    Remind the customer to back up their phone before installing: scan `qr_svg_url`, or open
    `ios_install_url` on an iPhone."""
    customer = customer_or_404(payload.customer_id)
    eid = validate_eid(payload.eid) if payload.eid else None
    profile = profiles.obtain_esim(customer=customer, carrier_code=_carrier_code(payload.carrier), eid=eid)
    return Status(201, _profile(profile.pk))


@router.delete("/{esim_id}", response=EsimOut, summary="Cancel or retire an eSIM")
@idempotent()
def delete_esim(request: HttpRequest, esim_id: EsimId) -> EsimProfile:
    """An eSIM ordered from an SM-DP+ and not installed yet is cancelled at the SM-DP+ (CancelOrder) and
    becomes `cancelled`; any other is `retired` (never handed out again). 409 while a subscription still
    uses it (end the subscription first); 503 with `Retry-After` when the SM-DP+ does not answer. Repeating
    it changes nothing."""
    profiles.cancel_esim_order(_profile(esim_id))
    return _profile(esim_id)


@router.get("", response=EsimList, summary="List eSIMs")
def list_esims(request: HttpRequest, query: Query[EsimQuery]) -> Page[EsimProfile]:
    """Oldest first, paged by id; filter by customer, carrier, state or ICCID."""
    profiles = EsimProfile.objects.select_related("carrier")
    if query.customer_id is not None:
        profiles = profiles.filter(customer_id=query.customer_id)
    if query.carrier is not None:
        profiles = profiles.filter(carrier__code=_carrier_code(query.carrier))
    if query.status is not None:
        profiles = profiles.filter(status=query.status)
    if query.iccid is not None:
        profiles = profiles.filter(iccid="".join(query.iccid.split()))
    return paginate(profiles, limit=query.limit, starting_after=query.starting_after)


@router.get("/{esim_id}", response=EsimOut, summary="Get an eSIM")
def get_esim(request: HttpRequest, esim_id: EsimId) -> EsimProfile:
    """The eSIM with its identifiers and install details (QR links only while it is a customer's)."""
    return _profile(esim_id)


@router.post("/{esim_id}/installed", response=EsimOut, summary="Record that the eSIM was installed")
@idempotent()
def mark_esim_installed(request: HttpRequest, esim_id: EsimId) -> EsimProfile:
    """Repeating it changes nothing; a profile not in a customer's hands is a 409."""
    with transaction.atomic():
        services.mark_installed(_profile(esim_id))
    return _profile(esim_id)


# --- what partners read about an eSIM -----------------------------------------------------------

SubscriptionStatus = Literal["incomplete", "active", "expiring", "suspended", "cancelled", "terminated"]


class EsimUsageOut(Schema):
    esim_id: int
    subscription_id: int | None = Field(..., description="The plan this usage is of; null if the eSIM never had one.")
    status: SubscriptionStatus | None = Field(
        ..., description="The subscription's status (as GET /subscriptions/{id} says); null without one."
    )
    data_total_mb: int = Field(..., description="This period's allowance with bonus and top-ups (1 GB = 1024 MB).")
    data_used_mb: int = Field(..., description="Used this period; used + remaining = total.")
    data_remaining_mb: int
    period_start: datetime | None = Field(..., description="The running period; null when none runs.")
    period_end: datetime | None
    expires_at: datetime | None = Field(
        ..., description="When service stops unless renewed (the end of what is paid, or when it was stopped)."
    )
    days_left: int


class ManualEntryOut(Schema):
    smdp_address: str = Field(..., description="SM-DP+ address, for iOS's Enter Details Manually.")
    matching_id: str = Field(..., description="The Matching ID, which iOS calls the activation code.")
    activation_code: str = Field(..., description="The whole code, for Android's Enter it manually.")
    confirmation_code_required: bool = Field(
        ..., description="Whether the phone will ask for a confirmation code (given separately)."
    )


class InstallStepsOut(Schema):
    ios: list[str]
    android: list[str]


class EsimInstallOut(Schema):
    esim_id: int
    iccid: str
    activation_code: str = Field(..., description="SGP.22: 1$<SM-DP+ address>$<Matching ID>.")
    lpa_string: str = Field(..., description="What the QR code holds: LPA: followed by the activation code.")
    qr_code_data_uri: str = Field(..., description="The QR code as an SVG data URI, to put in an <img> as is.")
    qr_svg_url: str = Field(
        ..., description="The same QR code at a signed link (no API key needed), valid for 24 hours."
    )
    qr_png_url: str = Field(..., description="The same QR code as PNG.")
    ios_install_url: str = Field(
        ..., description="Apple's direct-install link (iOS 17.4 and later): open it on the iPhone itself."
    )
    manual_entry: ManualEntryOut
    steps: InstallStepsOut
    backup_reminder: str


class TopUpPackOptionOut(Schema):
    id: int = Field(..., description="Pass it as data_mb_pack_id to POST /subscriptions/{id}/top-ups.")
    name: str
    data_mb: int
    price_minor: int = Field(..., description="In minor units (cents) of `currency`.")
    currency: str


class PlanOptionOut(Schema):
    id: int = Field(..., description="Pass it as plan_id to a renewal or a new subscription.")
    code: str
    name: str
    period_unit: str = Field(..., description="day, month or year.")
    period_count: int
    data_mb: int
    price_minor: int = Field(..., description="List price in minor units of `currency`, before promotions.")
    currency: str
    is_current_plan: bool = Field(
        ...,
        description="Whether this is the subscription's renewal plan (what auto-renew buys; a renewal paid once "
        "with another plan does not change it). The plan running now is the subscription's `plan_id`.",
    )


PlanPurchase = Literal["renewal", "new_subscription", "resume_first", "unavailable"]


class EsimTopUpOptionsOut(Schema):
    esim_id: int
    subscription_id: int | None
    top_ups: list[TopUpPackOptionOut] = Field(..., description="Data that can be added to the running period now.")
    top_ups_unavailable_reason: str | None = Field(..., description="Why `top_ups` is empty, when it is.")
    plans: list[PlanOptionOut] = Field(..., description="Plans of the eSIM's carrier on sale now.")
    plan_purchase: PlanPurchase = Field(
        ...,
        description="How to buy one of `plans`: renewal (POST /subscriptions/{subscription_id}/renewals), "
        "new_subscription (POST /subscriptions), resume_first (POST /subscriptions/{subscription_id}/resume, "
        "then renew), unavailable (see `plans_unavailable_reason`).",
    )
    plans_unavailable_reason: str | None


class TopUpRecordOut(Schema):
    id: int
    name: str
    data_mb: int
    price_minor: int
    currency: str
    invoice_id: int
    invoice_number: str
    bought_at: datetime


class PackageOut(Schema):
    id: int = Field(..., description="The period's id (the cursor for `starting_after`).")
    subscription_id: int
    number: int = Field(..., description="1 for a subscription's first period, then 2, 3, …")
    plan_id: int
    plan_name: str
    state: Literal["upcoming", "current", "past", "cancelled"] = Field(
        ..., description="cancelled: service was stopped before this period began."
    )
    starts_at: datetime
    ends_at: datetime
    data_mb: int = Field(..., description="The allowance, with any promotion bonus.")
    top_up_mb: int
    used_mb: int
    price_minor: int = Field(..., description="What the period cost after discounts, in minor units.")
    currency: str
    invoice_id: int
    invoice_number: str
    top_ups: list[TopUpRecordOut] = Field(..., description="Data bought within this period, oldest first.")


class PackageList(Schema):
    items: list[PackageOut]
    has_more: bool
    next_starting_after: int | None


@router.get("/{esim_id}/usage", response=EsimUsageOut, summary="What an eSIM has used and has left")
def get_esim_usage(request: HttpRequest, esim_id: EsimId) -> EsimUsageOut:
    """The running period of the eSIM's plan (its open subscription, else its latest): data total, used
    and remaining in MB, when service expires and the subscription's status. An eSIM that never had a plan
    answers zeros and nulls."""
    usage = esim_usage(_profile(esim_id))
    return EsimUsageOut(
        esim_id=usage.esim_id,
        subscription_id=usage.subscription.pk if usage.subscription else None,
        status=usage.status,  # type: ignore[arg-type]
        data_total_mb=usage.data_total_mb,
        data_used_mb=usage.data_used_mb,
        data_remaining_mb=usage.data_remaining_mb,
        period_start=usage.period_start,
        period_end=usage.period_end,
        expires_at=usage.expires_at,
        days_left=usage.days_left,
    )


@router.get("/{esim_id}/install", response=EsimInstallOut, summary="How to install an eSIM on a phone")
def get_esim_install(request: HttpRequest, esim_id: EsimId) -> EsimInstallOut:
    """The QR code (as a data URI and as links), the SM-DP+ address and Matching ID for manual entry, Apple's
    direct-install link and the steps for iOS and Android. Only an eSIM assigned to a customer can be installed
    (409 otherwise). Remind the customer to back up their phone first."""
    profile = _profile(esim_id)
    guide = install_instructions(profile)
    return EsimInstallOut(
        esim_id=profile.pk,
        iccid=profile.iccid,
        activation_code=guide.activation_code,
        lpa_string=guide.lpa_string,
        qr_code_data_uri=guide.qr_svg_data_uri,
        qr_svg_url=qr_svg_url(profile),
        qr_png_url=qr_png_url(profile),
        ios_install_url=guide.ios_install_url,
        manual_entry=ManualEntryOut(
            smdp_address=guide.smdp_address,
            matching_id=guide.matching_id,
            activation_code=guide.activation_code,
            confirmation_code_required=guide.confirmation_code_required,
        ),
        steps=InstallStepsOut(ios=guide.ios_steps, android=guide.android_steps),
        backup_reminder=guide.backup_reminder,
    )


def _top_ups_unavailable(profile: EsimProfile, subscription: Subscription | None, period: Period | None) -> str | None:
    if subscription is None:
        return "The eSIM has no plan yet; buy one first."
    if subscription.state not in (SubscriptionState.LIVE, SubscriptionState.CANCELLED) or period is None:
        return "No period is running to add data to; renew the plan first."
    return None


def _plan_purchase(
    profile: EsimProfile, subscription: Subscription | None, now: datetime
) -> tuple[PlanPurchase, str | None]:
    if profile.status not in USABLE_STATUSES:
        return "unavailable", "The eSIM is not assigned to a customer."
    if subscription is None or subscription.state == SubscriptionState.TERMINATED:
        return "new_subscription", None
    if subscription.state == SubscriptionState.INCOMPLETE:
        return "unavailable", "The first payment of the eSIM's subscription is not settled yet."
    if subscription.state == SubscriptionState.CANCELLED:
        return ("resume_first", None) if in_service(subscription, now) else ("new_subscription", None)
    if future_periods(subscription, now) >= MAX_PREPAID_PERIODS:
        return "unavailable", f"At most {MAX_PREPAID_PERIODS} periods can be paid ahead."
    return "renewal", None


@router.get("/{esim_id}/top-up-options", response=EsimTopUpOptionsOut, summary="What can be bought for an eSIM now")
def get_esim_top_up_options(request: HttpRequest, esim_id: EsimId) -> EsimTopUpOptionsOut:
    """Data top-ups for the running period and the plans of the eSIM's carrier on sale, with list prices in
    minor units. `plan_purchase` says which call buys a plan; an empty `top_ups` comes with the reason."""
    profile = _profile(esim_id)
    now = clock.now()
    subscription = subscription_of_esim(profile.pk)
    period = current_period(subscription, now) if subscription is not None else None
    blocked = _top_ups_unavailable(profile, subscription, period)
    packs = [] if blocked else top_up_packs_on_sale(profile.carrier_id)
    purchase, plans_blocked = _plan_purchase(profile, subscription, now)
    current_code = subscription.plan.code if subscription is not None else None
    return EsimTopUpOptionsOut(
        esim_id=profile.pk,
        subscription_id=subscription.pk if subscription else None,
        top_ups=[
            TopUpPackOptionOut(
                id=pack.pk, name=pack.name, data_mb=pack.data_mb, price_minor=pack.price_minor, currency=pack.currency
            )
            for pack in packs
        ],
        top_ups_unavailable_reason=blocked or (None if packs else "The carrier offers no top-ups."),
        plans=[
            PlanOptionOut(
                id=plan.pk,
                code=plan.code,
                name=plan.name,
                period_unit=plan.period_unit,
                period_count=plan.period_count,
                data_mb=plan.data_mb,
                price_minor=plan.price_minor,
                currency=plan.currency,
                is_current_plan=plan.code == current_code,
            )
            for plan in plans_on_sale(profile.carrier_id)
        ],
        plan_purchase=purchase,
        plans_unavailable_reason=plans_blocked,
    )


@router.get("/{esim_id}/packages", response=PackageList, summary="An eSIM's package history")
def list_esim_packages(request: HttpRequest, esim_id: EsimId, query: Query[PageQuery]) -> dict[str, object]:
    """Every period bought for the eSIM, across its subscriptions, oldest first, each with the top-ups bought
    within it and what it cost. Paginated by period id."""
    profile = _profile(esim_id)
    now = clock.now()
    page: Page[Period] = paginate(periods_of_esim(profile.pk), limit=query.limit, starting_after=query.starting_after)
    return {
        "items": [_package_out(period, now) for period in page.items],
        "has_more": page.has_more,
        "next_starting_after": page.next_starting_after,
    }


def _package_out(period: Period, now: datetime) -> PackageOut:
    invoice = period.invoice
    return PackageOut(
        id=period.pk,
        subscription_id=period.subscription_id,
        number=period.number,
        plan_id=period.plan_id,
        plan_name=period.plan.name,
        state=period_phase(period, now),  # type: ignore[arg-type]
        starts_at=period.starts_at,
        ends_at=period.ends_at,
        data_mb=period.data_mb,
        top_up_mb=period.top_up_mb,
        used_mb=-(-period.used_bytes // MB),
        price_minor=invoice.total_minor,
        currency=invoice.currency,
        invoice_id=invoice.pk,
        invoice_number=invoice.number,
        top_ups=[
            TopUpRecordOut(
                id=top_up.pk,
                name=top_up.pack.name,
                data_mb=top_up.data_mb,
                price_minor=top_up.invoice.total_minor,
                currency=top_up.invoice.currency,
                invoice_id=top_up.invoice_id,
                invoice_number=top_up.invoice.number,
                bought_at=top_up.created_at,
            )
            for top_up in period.top_ups.all()
        ],
    )
