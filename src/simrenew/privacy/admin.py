"""The console's data-rights actions on the customer page (console code: see pyproject's
import-linter notes on admin modules): download a customer's data for them, and delete their
account on their request. Each is behind a confirmation with a required reason and audited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse

from simrenew.console.actions import (
    ERASE_PERMISSION,
    EXPORT_PERMISSION,
    back_url,
    confirm_page,
    customer_url,
    next_query,
    perform,
    reason_field,
    require_permission,
)
from simrenew.customers.models import Customer
from simrenew.kit.audit import record_change
from simrenew.privacy import export
from simrenew.privacy.erasure import Erasure, erase_customer, finish_erasure


class ExportForm(forms.Form):
    file_format = forms.ChoiceField(
        label="Format",
        choices=[("json", "JSON (one document)"), ("zip", "CSV files in a zip")],
        initial="json",
        widget=forms.RadioSelect,
    )
    reason = reason_field("Why you download it (e.g. the customer's request and ticket); kept in the audit trail.")


class EraseForm(forms.Form):
    reason = reason_field("Who asked, when and how (e.g. the customer's email and ticket); kept in the audit trail.")
    confirm = forms.BooleanField(label="The customer asked for this; I understand it cannot be undone.")


class DataRightsAdminMixin(admin.ModelAdmin):
    """For CustomerAdmin: the two pages and their URLs."""

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:customer_id>/data-export/",
                self.admin_site.admin_view(self.data_export_view),
                name="customers_customer_data_export",
            ),
            path(
                "<int:customer_id>/erase/",
                self.admin_site.admin_view(self.erase_view),
                name="customers_customer_erase",
            ),
        ]
        return extra + super().get_urls()

    def data_export_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        require_permission(request, EXPORT_PERMISSION)
        customer = get_object_or_404(Customer, pk=customer_id)
        back = back_url(request, customer_url(customer.pk))
        form = ExportForm(request.POST or None)

        def download() -> tuple[str, bytes]:
            data = export.customer_data(customer)
            file_format = form.cleaned_data["file_format"]
            record_change(
                actor=request.user,
                action="export_data",
                target=customer,
                target_label=f"customer {customer.pk}",
                after={"format": file_format},
                reason=form.cleaned_data["reason"],
            )
            body = export.as_json(data) if file_format == "json" else export.as_csv_zip(data)
            return export.file_name(data, file_format), body

        done = perform(request, self, form, download)
        if done is not None:
            name, body = done
            content_type = "application/json" if name.endswith(".json") else "application/zip"
            response = HttpResponse(body, content_type=content_type)
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            response["Cache-Control"] = "no-store"
            return response
        return confirm_page(
            request,
            self,
            title=f"Download the data of customer {customer.pk}",
            form=form,
            submit_label="Download",
            back=back,
            back_label=str(customer),
            summary=[("Customer", str(customer)), ("Erased", "yes" if customer.erased_at else "no")],
            explanation="Everything kept about the customer: profile, eSIMs, plans and periods, payment methods "
            "(brand and last four digits), payments, invoices, messages sent and usage. Send it to the customer "
            "only, over a channel they confirmed.",
            status=400 if request.method == "POST" else 200,
        )

    def erase_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        require_permission(request, ERASE_PERMISSION)
        customer = get_object_or_404(Customer.objects.select_related("user"), pk=customer_id)
        back = back_url(request, customer_url(customer.pk))
        form = EraseForm(request.POST or None)
        erasure: Erasure | None = perform(
            request,
            self,
            form,
            lambda: erase_customer(customer, requested_by=form.cleaned_data["reason"]),
        )
        if erasure is not None:
            finish_erasure(erasure)
            self.message_user(
                request,
                f"Customer {erasure.customer_id} is erased: now known as {erasure.reference}; "
                f"{len(erasure.subscriptions_ended)} subscription(s) ended now with the cancel-now refunds; "
                f"{erasure.invoices_kept} invoice(s) keep their billing details until their retention ends.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(customer_url(customer.pk))
        return confirm_page(
            request,
            self,
            title=f"Delete the account of customer {customer.pk}",
            form=form,
            submit_label="Delete the account",
            back=back,
            back_label=str(customer),
            summary=[("Customer", str(customer)), ("Already erased", customer.erasure_reference or "no")],
            explanation="Only on the customer's own request. Every running plan is cancelled now (the cancel-now "
            "refund rules apply); name, email, phone, sign-in, saved payment methods, message recipients and "
            "usage are erased; invoices keep their billing details for the legal retention period; nothing more "
            "is sent to the customer. This cannot be undone.",
            status=400 if request.method == "POST" else 200,
        )

    def data_rights_links(self, request: HttpRequest, customer: Customer) -> dict[str, Any]:
        """What the customer page shows of this: the buttons the staff member's role allows."""
        here = next_query(request.path)
        links: dict[str, Any] = {"erased": customer.erasure_reference if customer.erased_at else ""}
        if request.user.has_perm(EXPORT_PERMISSION):
            links["export_url"] = reverse("admin:customers_customer_data_export", args=[customer.pk]) + here
        if request.user.has_perm(ERASE_PERMISSION) and customer.erased_at is None:
            links["erase_url"] = reverse("admin:customers_customer_erase", args=[customer.pk]) + here
        return links
