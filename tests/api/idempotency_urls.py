"""A throwaway API for testing `@idempotent` on its own: an echo that counts its runs."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, path
from ninja import Router, Schema
from ninja.responses import Status

from simrenew.api.api import JsonBodyParser, JsonRenderer, PartnerAPI
from simrenew.api.auth import ApiKeyAuth
from simrenew.api.idempotency import idempotency_key, idempotent, scoped_idempotency_key
from simrenew.api.schemas import InputSchema

runs: list[dict[str, object]] = []


class EchoIn(InputSchema):
    amount: int
    note: str = ""


class EchoOut(Schema):
    run: int
    amount: int
    key: str | None
    gateway_key: str | None


router = Router()


def _echo(request: HttpRequest, payload: EchoIn) -> Status:
    runs.append({"amount": payload.amount, "key": idempotency_key(request)})
    if payload.note == "explode":
        raise RuntimeError("database on fire")
    if payload.note == "conflict":
        from simrenew.kit.errors import Conflict

        raise Conflict("Not today.")
    return Status(
        201,
        {
            "run": len(runs),
            "amount": payload.amount,
            "key": idempotency_key(request),
            "gateway_key": scoped_idempotency_key(request),
        },
    )


@router.post("/charges", response={201: EchoOut})
@idempotent(required=True)
def charge(request: HttpRequest, payload: EchoIn) -> Status:
    return _echo(request, payload)


@router.post("/notes", response={201: EchoOut})
@idempotent()
def note(request: HttpRequest, payload: EchoIn) -> Status:
    return _echo(request, payload)


test_api = PartnerAPI(
    title="idempotency test",
    urls_namespace="idempotency-test",
    auth=ApiKeyAuth(),
    parser=JsonBodyParser(),
    renderer=JsonRenderer(),
)
test_api.add_router("", router)

urlpatterns: list[URLPattern | URLResolver] = [path("t/", test_api.urls)]
