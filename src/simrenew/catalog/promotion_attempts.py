"""Promotion codes cannot be guessed by trying many: failed codes are counted per customer
and per client (the portal: the IP address; the API: the API key, since a partner's server
sends every customer's requests from one address), and over the limit a code is refused
without being looked up, until the window (an hour by default) has passed.

    with promotion_attempts.guard(customer_id=customer.pk, client=f"ip:{ip}", code=code):
        price = quote(plan=plan, customer=customer, promo_code=code)

Counts live in Django's cache (`CACHES["default"]`): per process unless SIMRENEW_CACHE_URL
names a shared cache. Windows are fixed, on `kit.clock` (the test clock in the sandbox).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from simrenew.catalog.services import PromotionNotApplicable
from simrenew.kit import clock
from simrenew.kit.errors import FieldError, SimrenewError

# A request that looks the same failed code up twice (the pay page's charge, then its price)
# counts it once.
_COUNTED_ATTR = "_simrenew_failed_promo_codes"


class TooManyPromotionAttempts(SimrenewError):
    status = 429
    slug = "too-many-promotion-codes"
    title = "Too many promotion codes tried"


def _window() -> tuple[int, int]:
    """The current window's number and the seconds it still runs."""
    length = max(1, settings.SIMRENEW_PROMO_ATTEMPT_WINDOW)
    seconds = int(clock.now().timestamp())
    return seconds // length, length - seconds % length


def _keys(customer_id: int | None, client: str) -> list[tuple[str, int]]:
    number, _ = _window()
    keys = [(f"promo-failures:client:{client}:{number}", settings.SIMRENEW_PROMO_FAILURES_PER_CLIENT)]
    if customer_id is not None:
        keys.append((f"promo-failures:customer:{customer_id}:{number}", settings.SIMRENEW_PROMO_FAILURES_PER_CUSTOMER))
    return keys


TOO_MANY = "Too many promotion codes that did not apply were tried. Try again in an hour."


def ensure_allowed(*, customer_id: int | None, client: str) -> None:
    """Refuse (429) when this customer or client has used up its failed codes for now."""
    for key, limit in _keys(customer_id, client):
        if limit and int(cache.get(key, 0)) >= limit:
            raise TooManyPromotionAttempts(TOO_MANY, errors=[FieldError("promo_code", TOO_MANY)])


def record_failure(*, customer_id: int | None, client: str) -> None:
    _, left = _window()
    for key, _limit in _keys(customer_id, client):
        cache.add(key, 0, timeout=left + 60)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=left + 60)


@contextmanager
def guard(
    *, customer_id: int | None, client: str, code: str | None, request: HttpRequest | None = None
) -> Iterator[None]:
    """Around what looks `code` up: refuse before it when over the limit, count it when the
    code does not apply. No code: nothing to guard."""
    code = (code or "").strip()
    if not code:
        yield
        return
    ensure_allowed(customer_id=customer_id, client=client)
    try:
        yield
    except PromotionNotApplicable:
        counted: set[str] = getattr(request, _COUNTED_ATTR, set()) if request is not None else set()
        if code.upper() not in counted:
            record_failure(customer_id=customer_id, client=client)
            counted.add(code.upper())
            if request is not None:
                setattr(request, _COUNTED_ATTR, counted)
        raise
