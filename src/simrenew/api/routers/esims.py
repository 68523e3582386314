"""eSIM profiles: assign one from inventory to a customer, show how to install it."""

from __future__ import annotations

from typing import Annotated

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status

from simrenew.api.idempotency import idempotent
from simrenew.api.pagination import Page, paginate
from simrenew.api.routers.inputs import Text
from simrenew.api.routers.payment_methods import customer_or_404
from simrenew.api.schemas import ID_MAX, InputSchema, PageQuery
from simrenew.catalog.models import Carrier
from simrenew.esims import services
from simrenew.esims.identifiers import ios_install_url, lpa_qr_payload
from simrenew.esims.models import EsimProfile, ProfileStatus
from simrenew.esims.views import qr_png_url, qr_svg_url
from simrenew.kit.errors import NotFound, ValidationFailed

router = Router(tags=["esims"])

EsimId = Annotated[int, Path(ge=1, le=ID_MAX, description="The eSIM's id.")]
# Only a profile in a customer's hands has a QR code (its link is signed for that customer).
_WITH_QR = (ProfileStatus.ASSIGNED, ProfileStatus.INSTALLED)


class EsimIn(InputSchema):
    customer_id: int = Field(..., ge=1, le=ID_MAX)
    carrier: Text = Field(..., max_length=32, description="Carrier code, e.g. att, tmobile, verizon.")


class EsimOut(Schema):
    id: int
    customer_id: int | None
    carrier: str = Field(..., description="Carrier code.")
    iccid: str
    eid: str | None
    msisdn: str = Field(..., description="E.164.")
    activation_code: str = Field(..., description="SGP.22: 1$<SM-DP+ address>$<Matching ID>.")
    lpa_string: str = Field(..., description="What the QR code holds: LPA: followed by the activation code.")
    qr_svg_url: str | None = Field(..., description="The activation QR code (SVG); no API key needed.")
    qr_png_url: str | None = Field(..., description="The same QR code as PNG.")
    ios_install_url: str = Field(..., description="Apple's direct-install link (iOS 17.4 and later).")
    status: ProfileStatus

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
    """Assigns an available profile from inventory (409 when the carrier has none left). Remind the
    customer to back up their phone before installing: scan `qr_svg_url`, or open `ios_install_url`
    on an iPhone."""
    with transaction.atomic():
        customer = customer_or_404(payload.customer_id)
        profile = services.assign_profile(customer=customer, carrier_code=payload.carrier)
    return Status(201, _profile(profile.pk))


@router.get("", response=EsimList, summary="List eSIMs")
def list_esims(request: HttpRequest, query: Query[EsimQuery]) -> Page[EsimProfile]:
    profiles = EsimProfile.objects.select_related("carrier")
    if query.customer_id is not None:
        profiles = profiles.filter(customer_id=query.customer_id)
    if query.carrier is not None:
        profiles = profiles.filter(carrier__code=_carrier_code(query.carrier))
    if query.status is not None:
        profiles = profiles.filter(status=query.status)
    return paginate(profiles, limit=query.limit, starting_after=query.starting_after)


@router.get("/{esim_id}", response=EsimOut, summary="Get an eSIM")
def get_esim(request: HttpRequest, esim_id: EsimId) -> EsimProfile:
    return _profile(esim_id)


@router.post("/{esim_id}/installed", response=EsimOut, summary="Record that the eSIM was installed")
@idempotent()
def mark_esim_installed(request: HttpRequest, esim_id: EsimId) -> EsimProfile:
    """Repeating it changes nothing; a profile not in a customer's hands is a 409."""
    with transaction.atomic():
        services.mark_installed(_profile(esim_id))
    return _profile(esim_id)
