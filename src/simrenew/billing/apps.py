from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "simrenew.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from simrenew.billing import notification_facts, wallet_top_ups

        wallet_top_ups.register()
        notification_facts.register()
