"""Catalog rules: plan versions and promotions. Services never commit."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Q

from simrenew.catalog.models import Carrier, DiscountKind, PeriodUnit, Plan, Promotion, PromotionRedemption
from simrenew.customers.models import Customer
from simrenew.kit import clock
from simrenew.kit.errors import Conflict, NotFound, ValidationFailed
from simrenew.kit.money import Money


class PromotionNotApplicable(ValidationFailed):
    slug = "promotion-not-applicable"
    title = "The promotion code cannot be used"


def create_plan(
    *,
    carrier: Carrier,
    code: str,
    name: str,
    period_unit: str,
    period_count: int,
    data_mb: int,
    price_minor: int,
    currency: str = "USD",
) -> Plan:
    if period_unit not in PeriodUnit.values:
        raise ValidationFailed.on("period_unit", "The period unit must be day, month or year.")
    if period_count < 1:
        raise ValidationFailed.on("period_count", "A plan lasts at least one period unit.")
    if price_minor < 0 or data_mb < 1:
        raise ValidationFailed("A plan needs a price of zero or more and at least 1 MB of data.")
    if Plan.objects.filter(code=code).exists():
        raise Conflict(f"A plan with code {code!r} exists; change it with a new version instead.")
    return Plan.objects.create(
        carrier=carrier,
        code=code,
        version=1,
        name=name,
        period_unit=period_unit,
        period_count=period_count,
        data_mb=data_mb,
        price_minor=price_minor,
        currency=Money(price_minor, currency).currency,
        is_current=True,
        created_at=clock.now(),
    )


def revise_plan(
    plan: Plan, *, price_minor: int | None = None, data_mb: int | None = None, name: str | None = None
) -> Plan:
    """A new version of the plan for new buyers; subscribers keep the version they have."""
    current = Plan.objects.select_for_update().get(code=plan.code, is_current=True)
    Plan.objects.filter(pk=current.pk).update(is_current=False)
    return Plan.objects.create(
        carrier_id=current.carrier_id,
        code=current.code,
        version=current.version + 1,
        name=name or current.name,
        period_unit=current.period_unit,
        period_count=current.period_count,
        data_mb=current.data_mb if data_mb is None else data_mb,
        price_minor=current.price_minor if price_minor is None else price_minor,
        currency=current.currency,
        is_current=True,
        created_at=clock.now(),
    )


def get_plan(plan_id: int, *, field: str = "plan_id") -> Plan:
    plan = Plan.objects.select_related("carrier").filter(pk=plan_id).first()
    if plan is None:
        raise NotFound(f"Plan {plan_id} does not exist.", code=field)
    return plan


@dataclass(frozen=True, slots=True)
class PriceQuote:
    subtotal: Money
    discount: Money
    bonus_data_mb: int
    promotion: Promotion | None

    @property
    def total(self) -> Money:
        return self.subtotal - self.discount


def find_promotion(code: str) -> Promotion:
    promotion = Promotion.objects.filter(code__iexact=code.strip()).first()
    if promotion is None:
        raise PromotionNotApplicable.on("promo_code", f"There is no promotion with the code {code.strip()!r}.")
    return promotion


def check_promotion(promotion: Promotion, *, customer: Customer, plan: Plan) -> None:
    now = clock.now()
    reason = None
    if not promotion.is_active:
        reason = "This promotion code is no longer active."
    elif promotion.valid_from and now < promotion.valid_from:
        reason = "This promotion code is not valid yet."
    elif promotion.valid_until and now >= promotion.valid_until:
        reason = "This promotion code has expired."
    elif promotion.eligible_plan_codes and plan.code not in promotion.eligible_plan_codes:
        reason = "This promotion code does not apply to this plan."
    elif promotion.discount_kind == DiscountKind.FIXED and promotion.currency != plan.currency:
        reason = "This promotion code does not apply to prices in this currency."
    elif promotion.max_redemptions is not None and promotion.redemptions_count >= promotion.max_redemptions:
        reason = "This promotion code has been used up."
    elif promotion.max_per_customer is not None and _redeemed_by(promotion, customer) >= promotion.max_per_customer:
        reason = "You have already used this promotion code."
    if reason:
        raise PromotionNotApplicable.on("promo_code", reason)


def _redeemed_by(promotion: Promotion, customer: Customer) -> int:
    return PromotionRedemption.objects.filter(promotion=promotion, customer=customer).count()


def quote(*, plan: Plan, customer: Customer, promo_code: str | None) -> PriceQuote:
    """The price of a period of `plan` for `customer`, with the promotion of `promo_code`
    found and checked (which reads the database); the price itself is `period_price`'s."""
    promotion = None
    if promo_code:
        promotion = find_promotion(promo_code)
        check_promotion(promotion, customer=customer, plan=plan)
    return period_price(price_minor=plan.price_minor, currency=plan.currency, promotion=promotion)


def period_price(*, price_minor: int, currency: str, promotion: Promotion | None = None) -> PriceQuote:
    """The one pricing rule for a period of a plan: its list price less the promotion's
    discount (never below zero), with the promotion's bonus data. Pure and cheap: the
    worker prices whole auto-renew batches with it from plain rows, and every other
    purchase reaches it through `quote`, so a rule added here applies to both."""
    subtotal = Money(price_minor, currency)
    if promotion is None:
        return PriceQuote(subtotal, Money(0, currency), 0, None)
    if promotion.discount_kind == DiscountKind.PERCENT:
        discount = subtotal.percent_off(promotion.percent_off)
    else:
        discount = Money(min(promotion.amount_off_minor, subtotal.amount_minor), currency)
    return PriceQuote(subtotal, discount, promotion.bonus_data_mb, promotion)


def redeem(price: PriceQuote, *, customer: Customer, attempt_id: int) -> None:
    """Count the redemption against the limits, atomically: the conditional
    UPDATE holds the promotion row until commit, so concurrent redemptions queue
    behind it and the per-customer count read after it is exact."""
    promotion = price.promotion
    if promotion is None:
        return
    within_limit = Q(max_redemptions__isnull=True) | Q(redemptions_count__lt=F("max_redemptions"))
    counted = Promotion.objects.filter(within_limit, pk=promotion.pk).update(
        redemptions_count=F("redemptions_count") + 1
    )
    if not counted:
        raise PromotionNotApplicable.on("promo_code", "This promotion code has been used up.")
    if promotion.max_per_customer is not None and _redeemed_by(promotion, customer) >= promotion.max_per_customer:
        raise PromotionNotApplicable.on("promo_code", "You have already used this promotion code.")
    PromotionRedemption.objects.create(
        promotion=promotion,
        customer=customer,
        payment_attempt_id=attempt_id,
        discount_minor=price.discount.amount_minor,
        bonus_data_mb=price.bonus_data_mb,
        created_at=clock.now(),
    )


def release_redemption(attempt_id: int) -> None:
    """A failed payment gives its promotion redemption back."""
    redemption = PromotionRedemption.objects.filter(payment_attempt_id=attempt_id).first()
    if redemption is None:
        return
    Promotion.objects.filter(pk=redemption.promotion_id).update(redemptions_count=F("redemptions_count") - 1)
    redemption.delete()
