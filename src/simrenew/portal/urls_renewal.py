"""Renew, pay, confirmation, receipts, payment history, payment methods, wallet."""

from django.urls import URLPattern, path

from simrenew.portal import views, views_renewal

urlpatterns: list[URLPattern] = [
    path("subscriptions/<int:subscription_id>/renew/", views_renewal.renew, name="renew"),
    path("subscriptions/<int:subscription_id>/pay/", views_renewal.pay, name="pay"),
    path("payments/", views_renewal.payments, name="payments"),
    path("payments/<int:attempt_id>/", views_renewal.confirmation, name="confirmation"),
    path("receipts/<int:invoice_id>/", views_renewal.receipt_page, name="receipt"),
    path("receipts/<int:invoice_id>/pdf/", views_renewal.receipt_pdf, name="receipt_pdf"),
    path("payment-methods/", views_renewal.payment_methods, name="payment_methods"),
    path("payment-methods/<int:method_id>/remove/", views_renewal.payment_method_remove, name="payment_method_remove"),
    path(
        "payment-methods/<int:method_id>/default/", views_renewal.payment_method_default, name="payment_method_default"
    ),
    path("wallet/", views_renewal.wallet, name="wallet"),
    # Saving a card: Stripe's Payment Element on our page (it sends the browser back to card_saved),
    # or, with the sandbox gateway, the sandbox's own hosted card page.
    path("payment-methods/card/", views_renewal.card_page, name="card_page"),
    path("payment-methods/card/saved/", views_renewal.card_saved, name="card_saved"),
    # Linking PayPal: to PayPal's page and back (or the sandbox's page).
    path("payment-methods/paypal/", views_renewal.paypal_link_page, name="paypal_link"),
    path("payment-methods/paypal/linked/", views_renewal.paypal_linked, name="paypal_linked"),
    path("payment-methods/paypal/cancelled/", views_renewal.paypal_cancelled, name="paypal_cancelled"),
    path("sandbox-gateway/card/", views_renewal.sandbox_gateway_card, name="sandbox_gateway_card"),
    # The first purchase starts at sign-up: the page asking to confirm the address can resend it.
    path("accounts/resend-confirmation/", views.resend_confirmation, name="resend_confirmation"),
]
