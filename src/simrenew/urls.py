from django.contrib import admin
from django.urls import include, path

from simrenew.api import provider_webhooks
from simrenew.kit import bench_views
from simrenew.kit.views import healthz
from simrenew.worker.health import readyz
from simrenew.worker.metrics import metrics

urlpatterns = [
    # First: the partner API is the hottest traffic, and its prefix shares nothing with the pages'.
    path("api/v1/", include("simrenew.api.urls")),
    path("", include("simrenew.portal.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("esims/", include("simrenew.esims.urls")),
    # ES2+ and TMF641 callbacks, at the paths their standards give.
    path("", include("simrenew.provisioning.urls")),
    # Payment providers' webhooks, at the addresses registered with them.
    path("webhooks/stripe", provider_webhooks.stripe_webhook, name="stripe-webhook"),
    path("webhooks/paypal", provider_webhooks.paypal_webhook, name="paypal-webhook"),
]
urlpatterns += bench_views.routes()  # /bench/constant, only with SIMRENEW_BENCH_ROUTES=1

# The branded 500 page with the language switch, rendered without the database.
handler500 = "simrenew.portal.views_help.server_error"
