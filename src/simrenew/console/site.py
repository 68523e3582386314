"""The operator console: Django's admin site, opening on the overview.

Only staff with a console role (support, finance, admin; superusers count as admin)
may use it, and they sign in through allauth's login like customers (console.signin):
/admin/login/ only sends them there. The first page is the overview (charts and figures, a one-box customer
search); the usual list of everything the operator may read is one link away at
`apps/`, and in the sidebar of every other page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, re_path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from simrenew.console import charts, queries, signin
from simrenew.console.roles import role_of
from simrenew.kit import clock

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise  # a development dependency: for type checking only


class ConsoleSite(admin.AdminSite):
    site_header = "simrenew console"
    site_title = "simrenew console"
    index_title = "Overview"
    index_template = "console/overview.html"

    def has_permission(self, request: HttpRequest) -> bool:
        return self.is_console_staff(request) and not signin.second_factor_missing(request)

    @staticmethod
    def is_console_staff(request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and role_of(user) is not None)

    # ------------------------------------------------------------ signing in

    @method_decorator(never_cache)
    @method_decorator(login_not_required)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Never a form: whatever was posted here, nobody is authenticated by it. Visitors go to
        allauth's login (rate limits, lockout, TOTP); signed-in people who may not (yet) enter
        are told why, instead of being sent round in a loop."""
        next_url = signin.console_next(request)
        if not request.user.is_authenticated:
            return HttpResponseRedirect(signin.allauth_login_url(next_url))
        if self.has_permission(request):
            return HttpResponseRedirect(next_url)
        if self.is_console_staff(request):
            second_factor = reverse(f"{self.name}:console_second_factor")
            return HttpResponseRedirect(f"{second_factor}?{urlencode({'next': next_url})}")
        context = {"signed_in_as": request.user.get_username(), "next": next_url}
        return TemplateResponse(request, "console/not_staff.html", context, status=403)

    @method_decorator(never_cache)
    def second_factor_view(self, request: HttpRequest) -> HttpResponse:
        """Staff who signed in without their authenticator app: enter a code (if they have
        one) or set one up (if an administrator allowed it), then come back."""
        if not self.is_console_staff(request):
            return HttpResponseRedirect(reverse(f"{self.name}:login"))
        next_url = signin.console_next(request)
        if not signin.second_factor_missing(request):
            return HttpResponseRedirect(next_url)
        enrolled = signin.has_authenticator(request.user)
        may_set_up = not enrolled and signin.may_set_up_authenticator(request.user)
        if enrolled:
            action = f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}"
        else:
            action = reverse("mfa_activate_totp") if may_set_up else ""
        context = {
            "enrolled": enrolled,
            "may_set_up": may_set_up,
            "action": action,
            "required": signin.staff_mfa_required(),
        }
        return TemplateResponse(request, "console/second_factor.html", context, status=403)

    def _build_app_dict(self, request: HttpRequest, label: StrOrPromise | None = None) -> dict[str, Any]:
        """Django capitalises every model's plural name: "eSIM profiles" would read "ESIM
        profiles". Names whose first letter is lower case on purpose keep it."""
        found = super()._build_app_dict(request, label)
        for app in [found] if label else (found or {}).values():
            for model in (app or {}).get("models", []):
                plural = str(model["model"]._meta.verbose_name_plural)
                if plural[:1].islower() and plural[1:2].isupper():
                    model["name"] = plural
        return found

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        context["console_role"] = role_of(request.user)
        return context

    def get_urls(self) -> list[URLResolver | URLPattern]:
        own: list[URLResolver | URLPattern] = [
            path("search/", self.admin_view(self.search_view), name="console_search"),
            path("expiring/", self.admin_view(self.expiring_view), name="console_expiring"),
            path("apps/", self.admin_view(self.apps_view), name="console_apps"),
            path("second-factor/", self.second_factor_view, name="console_second_factor"),
            # The audit trail was the console's until it got its own app: old bookmarks and
            # checks of /admin/console/auditentry/… land on the same page under audit/.
            re_path(r"^console/auditentry/(?P<rest>.*)$", self.moved_audit_trail_view),
        ]
        return own + super().get_urls()

    @method_decorator(login_not_required)
    def moved_audit_trail_view(self, request: HttpRequest, rest: str) -> HttpResponse:
        """Only a redirect: the page it leads to checks who may read the trail."""
        target = reverse(f"{self.name}:audit_auditentry_changelist") + rest
        query = request.META.get("QUERY_STRING", "")
        return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)

    # ------------------------------------------------------------ the overview

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        if not request.user.has_perm("console.view_overview"):
            raise PermissionDenied
        figures = queries.overview()
        day_labels = [charts.day_label(day) for day in figures.days]
        month_labels = [charts.month_label(month) for month in figures.months]
        context = {
            **self.each_context(request),
            "title": self.index_title,
            "subtitle": None,
            "figures": figures,
            "clock_frozen": clock.is_frozen(),
            "charts": {
                "by_carrier": charts.active_by_carrier(figures.active_by_carrier),
                "by_plan": charts.active_by_plan(figures.active_by_plan),
                "renewals": charts.renewals(figures.renewals),
                "revenue_daily": charts.revenue(day_labels, figures.revenue_daily, what="per day", every=7),
                "revenue_monthly": charts.revenue(
                    charts.chart_months(figures.months), figures.revenue_monthly, what="per month", every=2
                ),
                "churn": charts.churn(figures.churn),
            },
            "revenue_daily_rows": _revenue_rows(day_labels, figures.revenue_daily),
            "revenue_monthly_rows": _revenue_rows(month_labels, figures.revenue_monthly),
            "renewal_rows": [(label, day) for label, day in zip(day_labels, figures.renewals, strict=True)],
            "can_search": request.user.has_perm("customers.view_customer"),
            "links": _links(request),
            "suspended_rows": _suspended_rows(request, figures.suspended),
            "retention_days": settings.SIMRENEW_RETENTION_DAYS,
            **(extra_context or {}),
        }
        request.current_app = self.name
        return TemplateResponse(request, self.index_template or "console/overview.html", context)

    def apps_view(self, request: HttpRequest) -> TemplateResponse:
        """Everything the operator may read, as Django's admin index lists it."""
        context = {
            **self.each_context(request),
            "title": "All data",
            "subtitle": None,
            "app_list": self.get_app_list(request),
        }
        request.current_app = self.name
        return TemplateResponse(request, "console/apps.html", context)

    # ------------------------------------------------------------ the search box

    def search_view(self, request: HttpRequest) -> HttpResponse:
        """Email, phone number or ICCID: straight to the customer when exactly one matches,
        otherwise the customer list searched for the same words."""
        if not request.user.has_perm("customers.view_customer"):
            raise PermissionDenied
        term = request.GET.get("q", "").strip()[:200]
        if not term:
            messages.info(request, "Type a customer's email, phone number or ICCID to find them.")
            return HttpResponseRedirect(reverse(f"{self.name}:index"))
        found = queries.find_customer_ids(term)
        if len(found) == 1:
            return HttpResponseRedirect(reverse(f"{self.name}:customers_customer_change", args=[found[0]]))
        changelist = reverse(f"{self.name}:customers_customer_changelist")
        return HttpResponseRedirect(f"{changelist}?{urlencode({'q': term})}")

    # ------------------------------------------------------------ expiring soon

    def expiring_view(self, request: HttpRequest) -> TemplateResponse:
        if not request.user.has_perm("subscriptions.view_subscription"):
            raise PermissionDenied
        now = clock.now()
        context = {
            **self.each_context(request),
            "title": "Subscriptions expiring in the next 7 days",
            "subtitle": None,
            "now": now,
            "subscriptions": queries.expiring_subscriptions(now),
            "can_view_customers": request.user.has_perm("customers.view_customer"),
        }
        request.current_app = self.name
        return TemplateResponse(request, "console/expiring.html", context)


def _revenue_rows(labels: list[str], by_currency: dict[str, list[queries.Revenue]]) -> list[dict[str, Any]]:
    """Table rows: one per bucket and currency that had any money move."""
    rows = []
    for currency, values in sorted(by_currency.items()):
        for label, value in zip(labels, values, strict=True):
            if value.gross_minor or value.refunded_minor:
                rows.append({"label": label, "currency": currency, "value": value})
    return rows


def _links(request: HttpRequest) -> dict[str, str]:
    """Where the overview's figures lead, for those allowed to follow."""
    user = request.user
    links: dict[str, str] = {}
    if user.has_perm("notifications.view_delivery"):
        deliveries = reverse("admin:notifications_delivery_changelist")
        links["dead"] = f"{deliveries}?status__exact=dead"
        links["pending"] = f"{deliveries}?status__exact=pending"
    if user.has_perm("notifications.view_outboxmessage"):
        links["events"] = reverse("admin:notifications_outboxmessage_changelist") + "?status__exact=pending"
    if user.has_perm("subscriptions.view_subscription"):
        links["expiring"] = reverse("admin:console_expiring")
    if user.has_perm("kit.view_testclock"):
        links["clock"] = reverse("admin:kit_testclock_changelist")
    if user.has_perm("audit.view_auditentry"):
        links["audit"] = reverse("admin:audit_auditentry_changelist")
    if user.has_perm("esims.view_esimprofile"):
        links["stock"] = reverse("admin:esims_esimprofile_changelist") + "?status__exact=available"
    if user.has_perm("provisioning.view_lineorder"):
        orders = reverse("admin:provisioning_lineorder_changelist")
        links["line_orders_failed"] = f"{orders}?needs_operator=yes"
        links["line_orders_open"] = f"{orders}?status__exact=in_progress"
    if user.has_perm("provisioning.view_profileorder"):
        links["profile_orders_lost"] = reverse("admin:provisioning_profileorder_changelist") + "?status__exact=lost"
    if user.has_perm("esims.view_esimprofile"):
        links["downloads_failed"] = reverse("admin:esims_esimprofile_changelist") + "?status__exact=download_failed"
    if user.has_perm("billing.view_refund"):
        refunds = reverse("admin:billing_refund_changelist")
        links["refunds_pending"] = f"{refunds}?status__exact=pending"
        links["refunds_failed"] = f"{refunds}?status__exact=failed"
    return links


def _suspended_rows(request: HttpRequest, suspended: queries.Suspended) -> list[dict[str, Any]]:
    """The suspended subscriptions shown, each with its customer's page for those who may open it."""
    may_open = request.user.has_perm("customers.view_customer")
    return [
        {
            "item": item,
            "url": reverse("admin:customers_customer_change", args=[item.customer_id]) if may_open else "",
        }
        for item in suspended.soonest
    ]
