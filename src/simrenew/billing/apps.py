from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "simrenew.billing"
    label = "billing"
    verbose_name = "Billing"
