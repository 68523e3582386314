"""`{% pay_page_renewal_note subscription plan customer as note %}`: what auto-renew buys after this
payment, said on the pay page before paying (presenters_manage.pay_page_renewal_note)."""

from __future__ import annotations

from django import template

from simrenew.catalog.models import Plan
from simrenew.customers.models import Customer
from simrenew.portal.presenters_manage import PayPageRenewalNote
from simrenew.portal.presenters_manage import pay_page_renewal_note as note_for
from simrenew.subscriptions.models import Subscription

register = template.Library()


@register.simple_tag
def pay_page_renewal_note(subscription: Subscription, plan: Plan, customer: Customer) -> PayPageRenewalNote:
    return note_for(subscription, plan, customer)
