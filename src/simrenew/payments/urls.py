"""What payment providers call on us: their webhooks."""

from django.urls import path

from simrenew.payments import webhook_views

urlpatterns = [
    path("webhooks/stripe", webhook_views.stripe_webhook, name="stripe-webhook"),
]
