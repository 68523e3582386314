"""Customers: the people whose eSIMs are sold and renewed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from simrenew.api.idempotency import idempotent
from simrenew.api.pagination import Page, paginate
from simrenew.api.schemas import ID_MAX, InputSchema, PageQuery
from simrenew.customers import services
from simrenew.customers.models import Customer
from simrenew.kit.errors import NotFound

router = Router(tags=["customers"])

CustomerId = Annotated[int, Path(ge=1, le=ID_MAX, description="The customer's id.")]


class CustomerIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "name": "Ada Lovelace",
                    "locale": "en",
                    "time_zone": "America/New_York",
                    "phone": "+12125550100",
                }
            ]
        }
    )

    # Lengths: a customer's email is also their login name (at most 150 characters).
    email: str = Field(..., max_length=150, description="Unique, compared case-insensitively.")
    name: str = Field(..., max_length=200)
    locale: str = Field("en", max_length=16, description="en or zh-hans.")
    time_zone: str = Field("UTC", max_length=64, description="IANA time zone, e.g. America/New_York.")
    phone: str | None = Field(None, max_length=32, description="E.164, e.g. +12125550100; for SMS reminders.")


class CustomerPatch(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"time_zone": "Europe/London", "renew_with_other_methods": True}]}
    )

    name: str | None = Field(None, max_length=200)
    locale: str | None = Field(None, max_length=16)
    time_zone: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=32, description="Empty string removes the number.")
    renew_with_other_methods: bool | None = Field(
        None, description="Let auto-renew fall back to the customer's other saved methods after the wallet."
    )


class CustomerOut(Schema):
    id: int
    email: str
    name: str
    locale: str
    time_zone: str
    phone: str | None
    renew_with_other_methods: bool
    created_at: datetime

    @staticmethod
    def resolve_phone(customer: Customer) -> str | None:
        return customer.phone or None


class CustomerList(Schema):
    items: list[CustomerOut]
    has_more: bool
    next_starting_after: int | None


class CustomerQuery(PageQuery):
    email: str | None = Field(None, max_length=254, description="Only the customer with this email (any case).")


def _customer(customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.")
    return customer


@router.post("", response={201: CustomerOut}, summary="Create a customer")
@idempotent()
def create_customer(request: HttpRequest, payload: CustomerIn) -> Status:
    """The email is unique (any case): a second customer with it is a 409. Send an `Idempotency-Key` so a
    retry never creates two."""
    with transaction.atomic():
        customer = services.create_customer(
            email=payload.email,
            name=payload.name,
            locale=payload.locale,
            time_zone=payload.time_zone,
            phone=payload.phone or "",
        )
    return Status(201, customer)


@router.get("", response=CustomerList, summary="List customers")
def list_customers(request: HttpRequest, query: Query[CustomerQuery]) -> Page[Customer]:
    """Oldest first, paged by id; `email` finds one customer (any case)."""
    customers = Customer.objects.all()
    if query.email:
        customers = customers.filter(email__iexact=query.email.strip())
    return paginate(customers, limit=query.limit, starting_after=query.starting_after)


@router.get("/{customer_id}", response=CustomerOut, summary="Get a customer")
def get_customer(request: HttpRequest, customer_id: CustomerId) -> Customer:
    """One customer, with their language, time zone and phone for reminders."""
    return _customer(customer_id)


@router.patch("/{customer_id}", response=CustomerOut, summary="Change a customer's name, language, zone or phone")
@idempotent()
def update_customer(request: HttpRequest, customer_id: CustomerId, payload: CustomerPatch) -> Customer:
    """Only the fields sent change; an empty `phone` removes the number. The email is the login and does
    not change here."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if customer is None:
            raise NotFound(f"No customer with id {customer_id}.")
        return services.update_customer(
            customer,
            name=payload.name,
            locale=payload.locale,
            time_zone=payload.time_zone,
            phone=payload.phone,
            renew_with_other_methods=payload.renew_with_other_methods,
        )
