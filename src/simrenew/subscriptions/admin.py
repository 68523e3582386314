"""Subscriptions in the console: read-only rows (they change through renewals,
cancellation and the worker); the goodwill extension is the one operator action,
for staff allowed to extend periods, behind a confirmation with a reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path

from simrenew.console.actions import (
    EXTEND_PERMISSION,
    ReadOnlyAdmin,
    back_url,
    confirm_page,
    customer_url,
    moment,
    perform,
    reason_field,
    require_permission,
)
from simrenew.console.queries import running_plan_name
from simrenew.kit import clock
from simrenew.subscriptions.goodwill import MAX_GOODWILL_DAYS, MIN_GOODWILL_DAYS, extend_current_period
from simrenew.subscriptions.models import Period, PeriodExtension, Subscription
from simrenew.subscriptions.queries import next_auto_renew_charge, view


class PeriodInline(admin.TabularInline):
    model = Period
    extra = 0
    can_delete = False
    fields = ("number", "plan", "starts_at", "ends_at", "data_mb", "top_up_mb", "used_bytes", "invoice")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PeriodExtensionInline(admin.TabularInline):
    model = PeriodExtension
    extra = 0
    can_delete = False
    fields = ("period", "days", "previous_ends_at", "new_ends_at", "granted_by", "reason", "created_at")
    readonly_fields = fields
    verbose_name = "goodwill extension"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ExtendForm(forms.Form):
    days = forms.IntegerField(
        label="Days",
        min_value=MIN_GOODWILL_DAYS,
        max_value=MAX_GOODWILL_DAYS,
        help_text=f"{MIN_GOODWILL_DAYS} to {MAX_GOODWILL_DAYS} days, free of charge. The auto-renew charge moves "
        "by as many days.",
    )
    reason = reason_field()


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "customer",
        "esim",
        "running_plan",
        "renewal_plan",
        "state",
        "auto_renew",
        "paid_through",
        "next_auto_renew_charge",
    )
    list_filter = ("state", "auto_renew")
    search_fields = ("customer__email", "esim__iccid", "esim__msisdn")
    list_select_related = ("customer", "esim", "plan")
    ordering = ("-id",)
    inlines = [PeriodInline, PeriodExtensionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscription]:
        # The plan shown is the one running now, read with the rows (one query for the page).
        return super().get_queryset(request).annotate(running_plan_name=running_plan_name(clock.now()))

    @admin.display(description="Plan")
    def running_plan(self, subscription: Subscription) -> str:
        """The plan running now (else the one that ran last), not the last one paid for."""
        return getattr(subscription, "running_plan_name", None) or subscription.plan.name

    @admin.display(description="Renews with", ordering="plan__name")
    def renewal_plan(self, subscription: Subscription) -> str:
        return str(subscription.plan.name)

    @admin.display(description="Next auto-renew charge", ordering="renewal_due_at")
    def next_auto_renew_charge(self, subscription: Subscription) -> datetime | None:
        """Only while it renews by itself: a cancelled subscription has none."""
        return next_auto_renew_charge(subscription, clock.now())

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:subscription_id>/extend/",
                self.admin_site.admin_view(self.extend_view),
                name="subscriptions_subscription_extend",
            )
        ]
        return extra + super().get_urls()

    def extend_view(self, request: HttpRequest, subscription_id: int) -> HttpResponse:
        require_permission(request, EXTEND_PERMISSION)
        subscription = get_object_or_404(
            Subscription.objects.select_related("customer", "plan", "esim"), pk=subscription_id
        )
        back = back_url(request, customer_url(subscription.customer_id))
        form = ExtendForm(request.POST or None, initial={"days": 1})
        extension = perform(
            request,
            self,
            form,
            lambda: extend_current_period(
                subscription=subscription,
                days=form.cleaned_data["days"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            ),
        )
        if extension is not None:
            self.message_user(
                request,
                f"Period {extension.period.number} of subscription {subscription.pk} now ends "
                f"{moment(extension.new_ends_at, subscription.customer.time_zone)} "
                f"(+{extension.days} day(s), no charge).",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(back)
        status = 400 if request.method == "POST" else 200
        zone = subscription.customer.time_zone
        return confirm_page(
            request,
            self,
            title=f"Extend the current period of subscription {subscription.pk}",
            form=form,
            submit_label="Confirm extension",
            back=back,
            back_label=str(subscription.customer),
            summary=[
                ("Customer", str(subscription.customer)),
                ("eSIM", f"{subscription.esim.iccid} ({subscription.esim.msisdn})"),
                ("Plan running", str(view(subscription).plan)),  # Plan's str: its name and version
                ("Renews with", str(subscription.plan)),
                ("Paid through", moment(subscription.paid_through, zone)),
                ("Next auto-renew charge", moment(next_auto_renew_charge(subscription, clock.now()), zone)),
            ],
            explanation="A goodwill gesture: the current period (and any prepaid one after it) ends later, "
            "without a charge or an invoice.",
            status=status,
        )
