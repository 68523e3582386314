from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "simrenew.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from simrenew.billing import notification_facts, wallet_top_ups
        from simrenew.billing.refunds import settle_reported_refund
        from simrenew.payments.provider_events import register_refund_reports

        wallet_top_ups.register()
        notification_facts.register()
        register_refund_reports(settle_reported_refund)
